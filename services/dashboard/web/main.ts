/**
 * The dashboard's browser app: hash-routed pages over the dashboard's JSON API, charts drawn
 * by vega-embed from the specs of @robustrec/charts (the same specs the reports render to
 * SVG/PNG headless). Plain DOM, no framework: six pages, each a function of the route.
 */
import embed, { type Result as EmbedResult } from 'vega-embed';
import {
  accuracyRobustnessChart,
  attackSuccessChart,
  binSamples,
  embeddingChart,
  histogramChart,
  meanStd,
  popularityChart,
  sweepChart,
  trainingCurveChart,
  type ChartSpec,
} from '@robustrec/charts/specs';

// ---------- API types (the JSON the dashboard server sends) ----------
interface Stat { mean: number; std: number; n: number }
interface Block {
  dataset: string;
  columns: Array<{ attack: string; metric: string }>;
  rows: Array<{ model: string; cells: Array<Stat | null>; failed: boolean[] }>;
  gains: Array<{ label: string; values: Array<number | null>; notes: Array<string | null>; p: Array<number | null> }>;
  seeds: number;
}
interface Report { spec: string; table1: Block[]; table2: Block[]; cells: { done: number; failed: number; pending: number } }
interface Cell {
  key: string;
  dataset?: string;
  attack?: string;
  variant?: string;
  model?: string;
  seed?: number;
  state?: string;
  replica?: string;
  jobId?: string;
  modelId?: string;
  metrics?: Record<string, number>;
  error?: string;
  errorCode?: string;
  seconds?: number;
  sweepParam?: string;
  sweepValue?: number;
  datasetId?: string;
  evaluationId?: string;
  configJson?: string;
  versions?: Record<string, string>;
  finishedAt?: string;
  /** Whether the cell's model is in the registry the dashboard reaches. */
  stored?: boolean;
}
interface Results { report: Report; cells: Cell[]; spec: { name: string; seeds: number[] }; significance: { test: string; level: number }; labels: Record<string, string> }
interface Experiment { id: string; specName: string; state: string; cellsTotal?: number; cellsDone?: number; cellsFailed?: number; cellsRunning?: number; submittedAt?: string; finishedAt?: string; error?: string }
interface SpecSummary { name: string; cellsTotal?: number; cellsDone?: number; cellsFailed?: number; cellsRunning?: number; lastFinishedAt?: string; known?: boolean }
interface Metric { name: string; value: number; k?: number }
interface Model { id: string; name: string; version: number; backbone: string; defense: string; datasetId: string; numUsers?: number; numItems?: number; sizeBytes?: string; datasetName?: string; poisoned?: boolean; targetItems?: number[] }
interface ProfileSet { id: string; datasetId: string; generator: string; targetItems?: number[]; numProfiles?: number }

declare global {
  interface Window {
    /** Rendered charts by name, for people poking at the page from the console (and tests). */
    __charts: Record<string, EmbedResult['view']>;
  }
}
window.__charts = {};

const app = document.getElementById('app')!;
let cleanup: Array<() => void> = [];

// ---------- helpers ----------
class NeedsToken extends Error {}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await res.json()) as T & { error?: string; code?: string };
  if (res.status === 401 || res.status === 403) throw new NeedsToken(body.error ?? 'this platform protects reads');
  if (!res.ok) throw new Error(`${body.code ?? res.status}: ${body.error ?? res.statusText}`);
  return body;
}

type Child = Node | string | number | null | undefined | false;
function h(tag: string, attrs: Record<string, string | number | boolean | ((ev: Event) => void) | undefined> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const link = (href: string, text: string): HTMLElement => h('a', { href }, text);
const pct = (v: number, digits: number): string => (v * 100).toFixed(digits);
const enc = encodeURIComponent;
const short = (id: string | undefined): string => (id ? (id.length > 14 ? `${id.slice(0, 14)}…` : id) : '');
const stateName = (s: string | undefined): string => (s ?? '').replace(/^(CELL|EXPERIMENT)_STATE_/, '').toLowerCase();

/** The platform protects reads: ask for its token once, keep it in a same-site cookie. */
function askToken(why: string): void {
  const input = h('input', { type: 'password', name: 'token', 'aria-label': 'token', style: 'width:24em' }) as HTMLInputElement;
  app.replaceChildren(
    h('h1', {}, 'Token needed'),
    h('p', { class: 'note' }, why),
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          document.cookie = `robustrec_token=${encodeURIComponent(input.value.trim())}; path=/; SameSite=Strict`;
          void route();
        },
      },
      h('label', {}, 'Platform token ', input),
      h('button', { type: 'submit' }, 'Continue'),
    ),
  );
}

function showError(where: HTMLElement, e: unknown): void {
  if (e instanceof NeedsToken) return askToken(e.message);
  where.append(h('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e)));
}

/** Renders a chart spec into a titled box; the view is kept in window.__charts[name]. */
async function chart(parent: HTMLElement, name: string, title: string, spec: ChartSpec): Promise<void> {
  const box = h('div', { class: 'chart', 'data-chart': name }, h('h3', {}, title));
  const target = h('div');
  box.append(target);
  parent.append(box);
  // the page's own font (served by the dashboard), as in the report PNGs
  const res = await embed(target, spec, { renderer: 'svg', actions: false, config: { font: 'DejaVu Sans' } });
  window.__charts[name] = res.view;
  cleanup.push(() => res.finalize());
}

/** A trained cell's per-epoch history, from the trainer that ran its job. */
const historyUrl = (c: Cell): string => `/api/jobs/${enc(c.jobId!)}/history?replica=${enc(c.replica ?? '')}`;

function metricLabel(r: Results, m: string): string {
  return r.labels[m] ?? m;
}

// ---------- health ----------
async function health(): Promise<void> {
  const el = document.getElementById('health')!;
  try {
    const hs = await api<{ orchestrator: string; data: string; evaluator: string; trainers: string[] }>('/api/health');
    const all = [hs.orchestrator, hs.data, hs.evaluator, ...hs.trainers];
    const up = all.filter((s) => s === 'SERVING').length;
    el.textContent = `services ${up}/${all.length} serving`;
    el.title = JSON.stringify(hs, null, 1);
  } catch (e) {
    el.textContent = `services unreachable: ${e instanceof Error ? e.message : e}`;
  }
}

// ---------- experiments ----------
async function experimentsPage(id?: string): Promise<void> {
  if (id) return experimentPage(id);
  app.append(h('h1', {}, 'Experiments'));
  const [specs, exps] = await Promise.all([api<{ specs?: SpecSummary[] }>('/api/specs'), api<{ experiments?: Experiment[] }>('/api/experiments')]);
  app.append(h('h2', {}, 'Specs with stored results'));
  const st = h('table', { 'data-table': 'specs' }, h('tr', {}, ...['Spec', 'Cells', 'Done', 'Failed', 'Running', 'Last cell ended', ''].map((t) => h('th', {}, t))));
  for (const s of specs.specs ?? [])
    st.append(
      h(
        'tr',
        { 'data-spec': s.name },
        h('td', {}, s.known ? link(`#/results/${enc(s.name)}`, s.name) : s.name),
        h('td', {}, s.cellsTotal ?? 0),
        h('td', { class: 'state-done' }, s.cellsDone ?? 0),
        h('td', { class: s.cellsFailed ? 'state-failed' : '' }, s.cellsFailed ?? 0),
        h('td', { class: s.cellsRunning ? 'state-running' : '' }, s.cellsRunning ?? 0),
        h('td', {}, s.lastFinishedAt ?? ''),
        h('td', {}, s.known ? link(`#/charts/${enc(s.name)}`, 'charts') : h('span', { class: 'muted' }, 'definition not recorded')),
      ),
    );
  app.append(specs.specs?.length ? st : h('p', { class: 'note' }, 'No results stored yet: run a spec (robustrec run SPEC.yaml) or submit one to the orchestrator.'));
  app.append(h('h2', {}, 'Submitted experiments'));
  const et = h('table', { 'data-table': 'experiments' }, h('tr', {}, ...['Experiment', 'Spec', 'State', 'Progress', 'Submitted', 'Ended', 'Error'].map((t) => h('th', {}, t))));
  for (const e of exps.experiments ?? []) {
    const done = (e.cellsDone ?? 0) + (e.cellsFailed ?? 0);
    et.append(
      h(
        'tr',
        { 'data-experiment': e.id },
        h('td', {}, link(`#/experiments/${enc(e.id)}`, e.id)),
        h('td', {}, e.specName),
        h('td', { class: `state-${stateName(e.state)}` }, stateName(e.state)),
        h('td', {}, progressBar(done, e.cellsTotal ?? 0), ` ${e.cellsDone ?? 0}/${e.cellsTotal ?? 0}`),
        h('td', {}, e.submittedAt ?? ''),
        h('td', {}, e.finishedAt ?? ''),
        h('td', { class: 'error' }, e.error ?? ''),
      ),
    );
  }
  app.append(exps.experiments?.length ? et : h('p', { class: 'note' }, 'No experiment submitted to this orchestrator (robustrec run SPEC.yaml --orchestrator ADDR).'));
  // a grid run from the CLI has no event stream here: while cells run, the counts refresh
  if ((specs.specs ?? []).some((s) => s.cellsRunning) || (exps.experiments ?? []).some((e) => stateName(e.state) === 'running')) {
    const t = window.setTimeout(() => void route(), 5000);
    cleanup.push(() => window.clearTimeout(t));
  }
}

function progressBar(done: number, total: number): HTMLElement {
  return h('span', { class: 'bar', role: 'progressbar', 'aria-valuenow': done, 'aria-valuemax': total }, h('span', { style: `width:${total ? (100 * done) / total : 0}%` }));
}

async function experimentPage(id: string): Promise<void> {
  const head = h('div');
  const table = h('table', { 'data-table': 'cells' });
  const curves = h('div', { class: 'charts' });
  const log = h('div', { class: 'log', 'data-log': '' }, h('div', { class: 'muted' }, 'The run\'s log lines from the time this page opened:'));
  app.append(h('h1', {}, `Experiment ${id}`), head, h('h2', {}, 'Cells'), table, h('h2', {}, 'Training curves (live)'), curves, h('h2', {}, 'Log'), log);
  const cells = new Map<string, Cell>();
  const progress = new Map<string, { epoch: number; epochs: number; eta: number; loss?: number }>();
  const points: Array<{ series: string; epoch: number; metric: string; value: number }> = [];
  const seen = new Set<string>();
  const addPoint = (key: string, epoch: number, m: Metric): void => {
    if (!/loss/.test(m.name) || seen.has(`${key}\u0000${epoch}\u0000${m.name}`)) return;
    seen.add(`${key}\u0000${epoch}\u0000${m.name}`);
    points.push({ series: label(cells.get(key)), epoch, metric: m.name, value: m.value });
  };
  let exp: Experiment | undefined;

  const label = (c: Cell | undefined): string => (c ? `${c.variant}/${c.attack}/s${c.seed}` : '?');
  const draw = (): void => {
    if (exp) {
      head.replaceChildren(
        h('p', {}, 'Spec ', link(`#/results/${enc(exp.specName)}`, exp.specName), ' · state ', h('b', { 'data-experiment-state': '', class: `state-${stateName(exp.state)}` }, stateName(exp.state)), ` · ${exp.cellsDone ?? 0} of ${exp.cellsTotal ?? 0} cells done, ${exp.cellsFailed ?? 0} failed, ${exp.cellsRunning ?? 0} running`),
        exp.error ? h('p', { class: 'error' }, exp.error) : '',
      );
    }
    table.replaceChildren(h('tr', {}, ...['Model', 'Attack', 'Seed', 'State', 'Epoch', 'ETA', 'Loss', 'Recall@20', 'T-HR@50', 'Model id', 'Error'].map((t) => h('th', {}, t))));
    for (const c of cells.values()) {
      const p = progress.get(c.key);
      const st = stateName(c.state);
      table.append(
        h(
          'tr',
          { 'data-cell-key': c.key },
          h('td', {}, c.variant ?? ''),
          h('td', {}, c.attack ?? ''),
          h('td', {}, c.seed ?? ''),
          h('td', { class: `state-${st}`, 'data-state': st }, st),
          h('td', { class: 'epoch' }, p ? progressBar(p.epoch, p.epochs) : '', p ? ` ${p.epoch}/${p.epochs}` : ''),
          h('td', {}, p && st === 'running' && p.eta > 0 ? `${Math.round(p.eta)} s` : ''),
          h('td', {}, p?.loss !== undefined ? p.loss.toFixed(4) : ''),
          h('td', {}, c.metrics?.['recall@20'] !== undefined ? pct(c.metrics['recall@20'], 2) : ''),
          h('td', {}, c.metrics?.['t_hr@50'] !== undefined ? pct(c.metrics['t_hr@50'], 3) : ''),
          h('td', {}, c.modelId ? link(`#/models/${enc(c.modelId)}`, short(c.modelId)) : ''),
          h('td', { class: 'error' }, c.errorCode ? `${c.errorCode}: ${c.error}` : (c.error ?? '')),
        ),
      );
    }
  };
  let chartTimer: number | undefined;
  const drawCurves = (): void => {
    chartTimer = undefined;
    if (!points.length) return;
    curves.replaceChildren();
    void chart(curves, 'live-curves', 'Loss per epoch', trainingCurveChart(points, { width: 260, height: 170, columns: 4 }));
  };

  try {
    const snap = await api<{ experiment: Experiment; cells?: Cell[] }>(`/api/experiments/${enc(id)}`);
    exp = snap.experiment;
    for (const c of snap.cells ?? []) cells.set(c.key, c);
  } catch (e) {
    return showError(app, e);
  }
  draw();
  // the epochs before this page opened, from each trained cell's stored history (the stream
  // below brings the rest; a point seen twice is drawn once)
  await Promise.all(
    [...cells.values()]
      .filter((c) => c.jobId)
      .map(async (c) => {
        try {
          const hst = await api<{ history: Array<{ epoch: number; epochs: number; metrics?: Metric[] }> }>(historyUrl(c));
          for (const e of hst.history) for (const m of e.metrics ?? []) addPoint(c.key, e.epoch, m);
          const last = hst.history.at(-1);
          if (last && !progress.has(c.key)) progress.set(c.key, { epoch: last.epoch, epochs: last.epochs, eta: 0, loss: last.metrics?.find((m) => m.name === 'loss')?.value });
        } catch {
          // a cell whose trainer this dashboard does not reach: its curve starts with the stream
        }
      }),
  );
  draw();
  drawCurves();
  const es = new EventSource(`/api/experiments/${enc(id)}/events`);
  cleanup.push(() => es.close());
  es.onmessage = (ev: MessageEvent<string>) => {
    const msg = JSON.parse(ev.data) as { experiment?: Experiment; cells?: Cell[]; progress?: { key: string; epoch: number; epochs: number; etaSeconds?: number; metrics?: Metric[] }; log?: string };
    if (msg.experiment) exp = msg.experiment;
    for (const c of msg.cells ?? []) cells.set(c.key, c);
    if (msg.progress) {
      const pr = msg.progress;
      const loss = pr.metrics?.find((m) => m.name === 'loss')?.value;
      progress.set(pr.key, { epoch: pr.epoch, epochs: pr.epochs, eta: pr.etaSeconds ?? 0, loss });
      for (const m of pr.metrics ?? []) addPoint(pr.key, pr.epoch, m);
      chartTimer ??= window.setTimeout(drawCurves, 800);
    }
    if (msg.log) log.append(h('div', {}, msg.log));
    draw();
  };
  es.addEventListener('end', () => {
    es.close();
    draw();
  });
  es.addEventListener('failure', (ev) => showError(head, (JSON.parse((ev as MessageEvent<string>).data) as { error: string }).error));
}

// ---------- results ----------
async function pickSpec(base: string): Promise<string | undefined> {
  const specs = (await api<{ specs?: SpecSummary[] }>('/api/specs')).specs ?? [];
  const known = specs.filter((s) => s.known);
  if (!known.length) {
    app.append(h('p', { class: 'note' }, 'No results stored yet.'));
    return undefined;
  }
  location.hash = `#/${base}/${enc(known[0]!.name)}`;
  return undefined;
}

function specSelector(base: string, current: string, specs: SpecSummary[]): HTMLElement {
  const sel = h('select', { 'aria-label': 'spec', onchange: (ev: Event) => (location.hash = `#/${base}/${enc((ev.target as HTMLSelectElement).value)}`) }) as HTMLSelectElement;
  for (const s of specs.filter((x) => x.known)) sel.append(h('option', { value: s.name, selected: s.name === current }, s.name));
  return h('p', {}, 'Spec: ', sel);
}

async function resultsPage(spec?: string, variant?: string, attack?: string): Promise<void> {
  if (!spec) return void (await pickSpec('results'));
  const [r, specs] = await Promise.all([api<Results>(`/api/results/${enc(spec)}`), api<{ specs?: SpecSummary[] }>('/api/specs')]);
  app.append(h('h1', {}, `Results: ${spec}`), specSelector('results', spec, specs.specs ?? []));
  if (variant && attack) return cellDetails(r, spec, variant, attack);
  app.append(h('p', { class: 'note' }, `Cells: ${r.report.cells.done} done, ${r.report.cells.failed} failed, ${r.report.cells.pending} pending. `, link(`#/charts/${enc(spec)}`, 'Charts of this spec')));
  for (const [title, blocks, digits, lowerBetter] of [
    ['Table 1: recommendation performance (%)', r.report.table1, 2, false],
    ['Table 2: attack success (%, lower is better)', r.report.table2, 3, true],
  ] as const)
    for (const b of blocks) app.append(h('h2', {}, `${title}, ${b.dataset}`), resultTable(r, spec, b, digits, lowerBetter, title.startsWith('Table 1') ? 'table1' : 'table2'));
  app.append(
    h('p', { class: 'note' }, `Mean ± sample std over seeds (n shown where a cell has another count). Gain rows: ${r.significance.test}; * marks p < ${r.significance.level}. Click a column to sort; click a value for its cells.`),
  );
}

function resultTable(r: Results, spec: string, b: Block, digits: number, lowerBetter: boolean, name: string): HTMLElement {
  const table = h('table', { 'data-table': `${name}-${b.dataset}` });
  let sortCol = -1;
  const render = (): void => {
    const head = h(
      'tr',
      {},
      h('th', {}, 'Model'),
      ...b.columns.map((c, j) =>
        h('th', { class: `sortable${sortCol === j ? ' sorted' : ''}`, 'data-col': j, onclick: () => ((sortCol = j), render()) }, `${c.attack} ${metricLabel(r, c.metric)}`),
      ),
    );
    const rows = [...b.rows];
    if (sortCol >= 0) {
      const v = (x: (typeof rows)[number]): number => x.cells[sortCol]?.mean ?? (lowerBetter ? Infinity : -Infinity);
      rows.sort((a, z) => (lowerBetter ? v(a) - v(z) : v(z) - v(a)));
    }
    table.replaceChildren(head);
    for (const row of rows)
      table.append(
        h(
          'tr',
          { 'data-model': row.model },
          h('td', {}, row.model),
          ...row.cells.map((s, j) => {
            const col = b.columns[j]!;
            if (!s) return h('td', { class: row.failed[j] ? 'failed' : '' }, row.failed[j] ? 'failed' : '–');
            const text = `${pct(s.mean, digits)}${s.n >= 2 ? ` ± ${pct(s.std, digits)}` : ''}${s.n !== b.seeds ? ` (n=${s.n})` : ''}`;
            return h('td', { 'data-value': s.mean, 'data-n': s.n }, link(`#/results/${enc(spec)}/${enc(row.model)}/${enc(col.attack)}`, text));
          }),
        ),
      );
    for (const g of b.gains)
      table.append(
        h(
          'tr',
          { class: 'gain' },
          h('td', {}, g.label),
          ...g.values.map((v, j) => {
            const p = g.p[j];
            if (v === null || v === undefined) return h('td', {}, g.notes[j] ?? '–');
            const sig = p !== null && p !== undefined && p < r.significance.level;
            return h('td', { title: p !== null && p !== undefined ? `p = ${p.toPrecision(3)}` : 'fewer than 3 paired seeds: no test' }, `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)}%${sig ? ' *' : ''}`, p !== null && p !== undefined ? h('span', { class: 'muted' }, p < 0.001 ? ' p<0.001' : ` p=${p.toFixed(3)}`) : '');
          }),
        ),
      );
  };
  render();
  return table;
}

function cellDetails(r: Results, spec: string, variant: string, attack: string): void {
  const mine = r.cells.filter((c) => c.variant === variant && c.attack === attack);
  app.append(h('h2', {}, `${variant} under ${attack}: ${mine.length} cell(s)`), h('p', {}, link(`#/results/${enc(spec)}`, '← back to the tables')));
  for (const c of mine) {
    const box = h('div', { class: 'chart', 'data-cell-key': c.key });
    box.append(
      h('h3', {}, `seed ${c.seed} · ${stateName(c.state)}`),
      h(
        'p',
        {},
        'model ',
        c.modelId ? (c.stored ? link(`#/models/${enc(c.modelId)}`, c.modelId) : `${c.modelId} (not in this registry)`) : '–',
        ` · evaluation ${c.evaluationId || '–'} · dataset ${c.datasetId || '–'} · job ${c.jobId || '–'} on ${c.replica || '–'} · ${(c.seconds ?? 0).toFixed(1)} s`,
      ),
      h('pre', { 'data-metrics': '' }, JSON.stringify(c.metrics ?? {}, null, 1)),
      h('details', {}, h('summary', {}, 'configuration'), h('pre', {}, JSON.stringify(JSON.parse(c.configJson || '{}'), null, 1))),
      h('details', {}, h('summary', {}, 'versions'), h('pre', {}, JSON.stringify(c.versions ?? {}, null, 1))),
      c.error ? h('p', { class: 'error' }, c.error) : '',
    );
    app.append(box);
  }
}

// ---------- charts ----------
async function chartsPage(spec?: string): Promise<void> {
  if (!spec) return void (await pickSpec('charts'));
  const [r, specs] = await Promise.all([api<Results>(`/api/results/${enc(spec)}`), api<{ specs?: SpecSummary[] }>('/api/specs')]);
  app.append(h('h1', {}, `Charts: ${spec}`), specSelector('charts', spec, specs.specs ?? []));
  const grid = h('div', { class: 'charts' });
  app.append(grid);
  const waits: Array<Promise<void>> = [];

  // attack success per model and attack (Table 2's headline metric)
  for (const b of r.report.table2) {
    const metric = b.columns[0]?.metric;
    if (!metric) continue;
    const rows = b.rows.flatMap((row) =>
      b.columns.flatMap((c, j) => (c.metric === metric && row.cells[j] ? [{ model: row.model, attack: c.attack, mean: row.cells[j]!.mean * 100, std: row.cells[j]!.std * 100, n: row.cells[j]!.n }] : [])),
    );
    if (rows.length) waits.push(chart(grid, `attack-success-${b.dataset}`, `Attack success, ${metricLabel(r, metric)} (%), ${b.dataset}`, attackSuccessChart(rows, `${metricLabel(r, metric)} (%)`)));
  }
  // accuracy against robustness: Recall@20 (Table 1) vs T-HR@50 (Table 2), model × attack
  for (const b1 of r.report.table1) {
    const b2 = r.report.table2.find((b) => b.dataset === b1.dataset);
    const rm = b1.columns[0]?.metric;
    const tm = b2?.columns[0]?.metric;
    if (!b2 || !rm || !tm) continue;
    const pts = b1.rows.flatMap((row) =>
      b1.columns.flatMap((c, j) => {
        if (c.metric !== rm || !row.cells[j]) return [];
        const k = b2.columns.findIndex((x) => x.attack === c.attack && x.metric === tm);
        const t = b2.rows.find((x) => x.model === row.model)?.cells[k];
        return k >= 0 && t ? [{ model: row.model, attack: c.attack, recall: row.cells[j]!.mean * 100, target: t.mean * 100 }] : [];
      }),
    );
    if (pts.length) waits.push(chart(grid, `accuracy-robustness-${b1.dataset}`, `Accuracy vs robustness, ${b1.dataset}`, accuracyRobustnessChart(pts, metricLabel(r, rm), metricLabel(r, tm))));
  }
  // sweeps (rho, lambda): mean ± std over seeds per value
  const swept = r.cells.filter((c) => stateName(c.state) === 'done' && c.sweepParam);
  const groups = new Map<string, Cell[]>();
  for (const c of swept) groups.set(`${c.model}\u0000${c.sweepParam}`, [...(groups.get(`${c.model}\u0000${c.sweepParam}`) ?? []), c]);
  for (const [key, cs] of groups) {
    const [model, paramName] = key.split('\u0000') as [string, string];
    for (const metric of ['recall@20', 't_hr@50']) {
      const by = new Map<string, number[]>();
      for (const c of cs) if (c.metrics?.[metric] !== undefined) by.set(`${c.attack}\u0000${c.sweepValue}`, [...(by.get(`${c.attack}\u0000${c.sweepValue}`) ?? []), c.metrics[metric]! * 100]);
      const pts = [...by].map(([k, vs]) => {
        const [series, x] = k.split('\u0000') as [string, string];
        return { series, x: Number(x), ...meanStd(vs)! };
      });
      if (pts.length) waits.push(chart(grid, `sweep-${model}-${paramName}-${metric}`, `${model}: ${metricLabel(r, metric)} vs ${paramName}`, sweepChart(pts, paramName, `${metricLabel(r, metric)} (%)`, { logX: paramName === 'lambda' || paramName === 'lambda_' })));
    }
  }
  // per-user perturbation magnitudes (Figure 2b): the defended models of the first seed, first attack
  const firstSeed = Math.min(...r.cells.map((c) => c.seed ?? 0));
  const firstAttack = r.cells[0]?.attack;
  const candidates = r.cells.filter((c) => stateName(c.state) === 'done' && c.stored && !c.sweepParam && c.seed === firstSeed && c.attack === firstAttack);
  const samples = (
    await Promise.all(
      candidates.map(async (c) => {
        try {
          const m = await api<{ values: number[] }>(`/api/models/${enc(c.modelId!)}/magnitudes`);
          const values = m.values.filter((v) => v > 0);
          return values.length ? [{ name: c.variant ?? '?', values }] : [];
        } catch {
          return []; // a model stored elsewhere: the histogram shows the others
        }
      }),
    )
  ).flat();
  if (samples.length) waits.push(chart(grid, 'perturbation-magnitudes', `Per-user perturbation magnitude (${firstAttack}, seed ${firstSeed})`, histogramChart(binSamples(samples, 40), 'magnitude')));
  // training curves of the same cells, from their trainers' per-epoch history
  const histories = (
    await Promise.all(
      candidates.filter((c) => c.jobId).map(async (c) => {
        try {
          return [{ variant: c.variant ?? '?', ...(await api<{ history: Array<{ epoch: number; metrics?: Metric[] }> }>(historyUrl(c))) }];
        } catch {
          return [];
        }
      }),
    )
  ).flat();
  const curvePts = histories.flatMap((hst) => hst.history.flatMap((e) => (e.metrics ?? []).filter((m) => /loss/.test(m.name)).map((m) => ({ series: hst.variant, epoch: e.epoch, metric: m.name, value: m.value }))));
  if (curvePts.length) waits.push(chart(grid, 'training-curves', `Training curves (${firstAttack}, seed ${firstSeed})`, trainingCurveChart(curvePts)));
  await Promise.all(waits);
  if (!grid.children.length) app.append(h('p', { class: 'note' }, 'Nothing to chart yet: no finished cells.'));
}

// ---------- embeddings ----------
async function embeddingsPage(modelId?: string): Promise<void> {
  app.append(h('h1', {}, 'User embeddings'));
  const models = ((await api<{ models?: Model[] }>('/api/models')).models ?? []).slice().reverse();
  if (!models.length) return void app.append(h('p', { class: 'note' }, 'No registered models yet.'));
  // by default a model trained on poisoned data (the interesting case: where do the fakes land?)
  const chosen = modelId ?? models.find((m) => m.poisoned)?.id ?? models[0]!.id;
  const sel = h('select', { 'aria-label': 'model', onchange: (ev: Event) => (location.hash = `#/embeddings/${enc((ev.target as HTMLSelectElement).value)}`) });
  for (const m of models) sel.append(h('option', { value: m.id, selected: m.id === chosen }, `${m.name} v${m.version} (${m.backbone}+${m.defense}) on ${m.datasetName || short(m.datasetId)}`));
  app.append(h('p', {}, 'Model: ', sel), h('p', { class: 'note' }, '2-D UMAP projection of the user embeddings (computed once per model by the evaluator and cached); every fake user and a seeded sample of genuine ones.'));
  const info = h('p', { 'data-projection': '' }, 'computing…');
  const grid = h('div', { class: 'charts' });
  app.append(info, grid);
  const p = await api<{ points?: Array<{ user: number; x: number; y: number; fake?: boolean }>; method: string; numGenuineUsers?: number; numFakeUsers?: number; cached?: boolean; seconds?: number }>(`/api/models/${enc(chosen)}/projection`);
  const pts = (p.points ?? []).map((q) => ({ x: q.x, y: q.y, user: q.user, kind: q.fake ? ('fake' as const) : ('genuine' as const) }));
  info.textContent = `${pts.filter((q) => q.kind === 'genuine').length} genuine users (of ${p.numGenuineUsers ?? 0}) and ${p.numFakeUsers ?? 0} fake users; ${p.method}${p.cached ? ', cached' : `, ${(p.seconds ?? 0).toFixed(1)} s`}`;
  await chart(grid, 'embedding', `${p.method.toUpperCase()} of user embeddings`, embeddingChart(pts, p.method, { width: 560, height: 460 }));
}

// ---------- attack profiles ----------
async function profilesPage(id?: string): Promise<void> {
  app.append(h('h1', {}, 'Attack profiles'));
  const sets = (await api<{ profileSets?: ProfileSet[] }>('/api/profiles')).profileSets ?? [];
  if (!sets.length) return void app.append(h('p', { class: 'note' }, 'No profile sets stored yet.'));
  const t = h('table', { 'data-table': 'profiles' }, h('tr', {}, ...['Profile set', 'Generator', 'Fake users', 'Target items', 'Dataset'].map((x) => h('th', {}, x))));
  for (const s of sets)
    t.append(h('tr', { 'data-profile-set': s.id }, h('td', {}, link(`#/profiles/${enc(s.id)}`, short(s.id))), h('td', {}, s.generator), h('td', {}, s.numProfiles ?? 0), h('td', {}, (s.targetItems ?? []).join(', ')), h('td', {}, short(s.datasetId))));
  app.append(t);
  const chosen = id ?? sets[0]!.id;
  const d = await api<{ profileSet: ProfileSet & { numProfiles: number; meanLength: number }; targets: Array<{ item: number; popularity: number }>; popularity: Array<{ group: string; bucket: string; fraction: number }> }>(`/api/profiles/${enc(chosen)}`);
  app.append(
    h('h2', {}, `${d.profileSet.generator}: ${d.profileSet.numProfiles} fake users, ${d.profileSet.meanLength.toFixed(1)} items each on average`),
    h('p', { 'data-targets': '' }, `Targets: ${d.targets.map((x) => `item ${x.item} (${x.popularity} genuine interactions)`).join(', ')}`),
  );
  const grid = h('div', { class: 'charts' });
  app.append(grid);
  await chart(grid, 'popularity', 'Popularity of the items users interact with', popularityChart(d.popularity, { width: 560, height: 260 }));
}

// ---------- models ----------
async function modelsPage(id?: string): Promise<void> {
  if (id) return modelPage(id);
  app.append(h('h1', {}, 'Models'));
  const [list, profiles] = await Promise.all([api<{ models?: Model[]; aliases: Array<{ name: string; alias: string; version: number }> }>('/api/models'), api<{ profileSets?: ProfileSet[] }>('/api/profiles')]);
  const models = list.models ?? [];
  const t = h('table', { 'data-table': 'models' }, h('tr', {}, ...['Model', 'Name', 'Version', 'Backbone', 'Defense', 'Aliases', 'Dataset', 'Users', 'Items'].map((x) => h('th', {}, x))));
  for (const m of models)
    t.append(
      h(
        'tr',
        { 'data-model-id': m.id },
        h('td', {}, link(`#/models/${enc(m.id)}`, short(m.id))),
        h('td', {}, m.name),
        h('td', {}, m.version),
        h('td', {}, m.backbone),
        h('td', {}, m.defense),
        h('td', {}, list.aliases.filter((a) => a.name === m.name && a.version === m.version).map((a) => a.alias).join(', ')),
        h('td', { title: m.datasetId }, m.datasetName || short(m.datasetId)),
        h('td', {}, m.numUsers ?? 0),
        h('td', {}, m.numItems ?? 0),
      ),
    );
  app.append(models.length ? t : h('p', { class: 'note' }, 'No registered models yet.'));
  if (!models.length) return;

  // "try it": a user's top-k with and without the defense, and where the targets rank
  app.append(h('h2', {}, 'Try it'));
  const opt = (m: Model, sel: boolean): HTMLElement => h('option', { value: m.id, selected: sel }, `${m.name} v${m.version} (${m.backbone}+${m.defense}) on ${m.datasetName || short(m.datasetId)}`);
  // by default: a defended model trained under attack, against the undefended one on the same data
  const defended = models.find((m) => m.defense && m.defense !== 'none' && m.poisoned) ?? models.find((m) => m.defense && m.defense !== 'none') ?? models[0]!;
  const plain = models.find((m) => m.defense === 'none' && m.datasetId === defended.datasetId) ?? models.find((m) => m.defense === 'none') ?? models[0]!;
  const mSel = h('select', { name: 'model', 'aria-label': 'model' }, ...models.map((m) => opt(m, m.id === defended.id))) as HTMLSelectElement;
  const bSel = h('select', { name: 'baseline', 'aria-label': 'baseline' }, ...models.map((m) => opt(m, m.id === plain.id))) as HTMLSelectElement;
  const user = h('input', { name: 'user', type: 'number', min: 0, value: 0, style: 'width:7em' }) as HTMLInputElement;
  const k = h('input', { name: 'k', type: 'number', min: 1, max: 200, value: 20, style: 'width:5em' }) as HTMLInputElement;
  // the attack's targets: those of the defended model's poisoned dataset, else a profile set's
  const targets = h('input', { name: 'targets', value: (defended.targetItems?.length ? defended.targetItems : (profiles.profileSets?.[0]?.targetItems ?? [])).join(','), style: 'width:16em' }) as HTMLInputElement;
  const out = h('div', { class: 'cols', 'data-try-result': '' });
  const go = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    out.replaceChildren('ranking…');
    try {
      const q = new URLSearchParams({ model: mSel.value, baseline: bSel.value, user: user.value, k: k.value, targets: targets.value.replace(/\s+/g, '') });
      const r = await api<{ targets: number[]; model: Ranking; baseline: Ranking | null }>(`/api/try?${q}`);
      out.replaceChildren(rankingBox('model', mSel.selectedOptions[0]?.textContent ?? '', r.model, r.targets), r.baseline ? rankingBox('baseline', bSel.selectedOptions[0]?.textContent ?? '', r.baseline, r.targets) : '');
    } catch (e) {
      out.replaceChildren();
      showError(out, e);
    }
  };
  app.append(
    h('form', { class: 'inline', 'data-try': '', onsubmit: (ev: Event) => void go(ev) }, h('label', {}, 'Model ', mSel), h('label', {}, 'Baseline ', bSel), h('label', {}, 'User ', user), h('label', {}, 'k ', k), h('label', {}, 'Target items ', targets), h('button', { type: 'submit' }, 'Rank')),
    out,
  );
}

interface Ranking { modelId: string; items: number[]; scores: number[]; targetRanks: Array<number | null> }
function rankingBox(which: string, title: string, r: Ranking, targets: number[]): HTMLElement {
  const t = new Set(targets);
  return h(
    'div',
    {},
    h('h3', {}, title),
    h('p', { class: 'note', 'data-target-ranks': which }, targets.map((x, i) => `item ${x}: ${r.targetRanks[i] ? `rank ${r.targetRanks[i]}` : `not in top ${r.items.length}`}`).join('; ') || 'no target items given'),
    h('ol', { class: 'ranking', 'data-ranking': which }, ...r.items.map((it, i) => h('li', { class: t.has(it) ? 'target' : '', 'data-item': it }, `item ${it}`, h('span', { class: 'muted' }, ` ${r.scores[i]!.toFixed(3)}`)))),
  );
}

async function modelPage(id: string): Promise<void> {
  const m = await api<{ model: { model: Model & { metrics?: Metric[]; provenance?: unknown } }; evaluations: { evaluations?: Array<{ id: string; datasetId: string; metrics?: Metric[] }> } }>(`/api/models/${enc(id)}`);
  const model = m.model.model;
  app.append(h('h1', {}, `Model ${model.name} v${model.version}`), h('p', {}, `${model.backbone}+${model.defense} · dataset ${model.datasetId} · ${model.numUsers} users × ${model.numItems} items · `, link(`#/embeddings/${enc(id)}`, 'embeddings')));
  app.append(h('h2', {}, 'Evaluations'));
  const t = h('table', { 'data-table': 'evaluations' }, h('tr', {}, h('th', {}, 'Evaluation'), h('th', {}, 'Dataset'), h('th', {}, 'Metrics')));
  for (const e of m.evaluations.evaluations ?? []) t.append(h('tr', {}, h('td', {}, e.id), h('td', {}, short(e.datasetId)), h('td', {}, (e.metrics ?? []).map((x) => `${x.name}@${x.k}=${x.value.toFixed(4)}`).join(' '))));
  app.append(t, h('h2', {}, 'Provenance'), h('pre', {}, JSON.stringify(model.provenance ?? {}, null, 1)));
}

// ---------- router ----------
const PAGES: Record<string, (...args: string[]) => Promise<void>> = {
  experiments: experimentsPage,
  results: resultsPage,
  charts: chartsPage,
  embeddings: embeddingsPage,
  profiles: profilesPage,
  models: modelsPage,
};

async function route(): Promise<void> {
  for (const f of cleanup) f();
  cleanup = [];
  window.__charts = {};
  const [page = 'experiments', ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.getAttribute('data-page') === page);
  app.replaceChildren();
  app.removeAttribute('data-ready');
  const render = PAGES[page] ?? experimentsPage;
  try {
    await render(...args.filter(Boolean));
  } catch (e) {
    showError(app, e);
  }
  // tests and screenshots wait for this: every chart of the page has rendered
  app.setAttribute('data-ready', page);
}

window.addEventListener('hashchange', () => void route());
void health();
void route();
