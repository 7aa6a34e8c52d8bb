import jstat from 'jstat';
import { meanStd } from '@robustrec/charts/specs';
import { metricLabel, reportedMetrics } from '@robustrec/metrics';
import { expandCells, poisons, type ExperimentSpec } from './spec';
import type { CellRecord } from './store';

/**
 * Paper-style tables from stored cells: Table 1 (the registry's recommendation metrics,
 * Recall@20 / NDCG@20, per attack, mean ± std over seeds, in %) and Table 2 (its attack-success
 * metrics, T-HR@50 / T-NDCG@50, per attack), with "Gain" rows
 * (the proposed model vs. the best other baseline) and "Gain w.r.t. <backbone>" rows.
 * Nothing missing is hidden: a model whose cells failed keeps its row ("failed"), a Gain is
 * computed only when every baseline of its column is present ("n/a: APR missing" otherwise),
 * and "± std" appears only over two or more seeds, with each cell's seed count stated.
 */
export interface Stat {
  mean: number;
  std: number;
  n: number;
}

export interface TableBlock {
  dataset: string;
  columns: Array<{ attack: string; metric: string }>;
  /** A missing cell is undefined; `failed` marks those whose cells failed (rather than not run). */
  rows: Array<{ model: string; cells: Array<Stat | undefined>; failed: boolean[] }>;
  /** A gain is undefined where it cannot be computed; `notes` then says why ("n/a: APR missing"). */
  gains: Array<{
    label: string;
    values: Array<number | undefined>;
    notes: Array<string | undefined>;
    /** Two-sided p of a paired t-test over the seeds both models ran (≥ 3 pairs), else undefined. */
    p: Array<number | undefined>;
  }>;
  /** The seed count most cells have (cells with another count say theirs). */
  seeds: number;
}

export interface Report {
  spec: string;
  table1: TableBlock[];
  table2: TableBlock[];
  cells: { done: number; failed: number; pending: number };
}

/** Gains are tested for significance at this level. */
export const SIGNIFICANCE = 0.05;
export const SIGNIFICANCE_TEST = 'paired t-test over seeds, two-sided';

/**
 * Two-sided p of a paired t-test of a − b (same seeds), or undefined under 3 pairs (a test with
 * 1 degree of freedom says little; Wilcoxon's signed-rank cannot reach 0.05 under 6 pairs).
 * Differences all equal: p = 1 if they are all 0, else 0 (no variance to doubt them by).
 */
export function pairedTTest(pairs: Array<[number, number]>): number | undefined {
  const n = pairs.length;
  if (n < 3) return undefined;
  const d = pairs.map(([a, b]) => a - b);
  const mean = d.reduce((x, y) => x + y, 0) / n;
  const sd = Math.sqrt(d.reduce((x, y) => x + (y - mean) ** 2, 0) / (n - 1));
  if (sd === 0) return mean === 0 ? 1 : 0;
  const t = mean / (sd / Math.sqrt(n));
  return Math.min(1, 2 * (1 - jstat.jStat.studentt.cdf(Math.abs(t), n - 1)));
}

/** A cell's mean ± sample std over seeds: the statistic the dashboard's sweep charts draw too. */
export const stat: (xs: number[]) => Stat | undefined = meanStd;

const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];

function block(
  spec: ExperimentSpec,
  cells: CellRecord[],
  dataset: string,
  attacks: string[],
  metrics: string[],
  higherIsBetter: boolean,
): TableBlock {
  const all = cells.filter((c) => c.dataset === dataset);
  const mine = all.filter((c) => c.state === 'done');
  // every model with a cell record keeps its row (in spec order), failed ones included
  const order = [...new Set(expandCells(spec).map((c) => c.model.variant))];
  const rank = (m: string): number => (order.includes(m) ? order.indexOf(m) : order.length);
  const models = uniq(all.map((c) => c.variant)).sort((a, b) => rank(a) - rank(b));
  const columns = attacks.flatMap((attack) => metrics.map((metric) => ({ attack, metric })));
  // each model's values per column by seed: the cells' statistics, and the pairs of the Gain tests
  const bySeed = new Map(
    models.map((model) => [
      model,
      columns.map(({ attack, metric }) => new Map(mine.filter((c) => c.variant === model && c.attack === attack && c.metrics[metric] !== undefined).map((c) => [c.seed, c.metrics[metric]!]))),
    ]),
  );
  const rows = models.map((model) => ({
    model,
    cells: bySeed.get(model)!.map((v) => stat([...v.values()])),
    failed: columns.map(({ attack }) => all.some((c) => c.variant === model && c.attack === attack && c.state === 'failed')),
  }));
  // The proposed model is the spec's last model (a swept one: its first variant); it is
  // compared with the other models, never with its own variants, so a sweep-only spec has no
  // Gain rows. The backbone row is the first model without a defense.
  const proposedName = spec.models.at(-1)?.name ?? '';
  const isProposed = (m: string): boolean => m === proposedName || m.startsWith(`${proposedName}[`);
  const proposed = rows.find((r) => r.model === proposedName) ?? rows.find((r) => isProposed(r.model));
  const backboneName = spec.models.find((m) => !m.defense || m.defense === 'none')?.name;
  const backbone = rows.find((r) => r.model === backboneName);
  const gains: TableBlock['gains'] = [];
  const others = rows.filter((r) => !isProposed(r.model));
  const rel = (p: number, b: number): number => (higherIsBetter ? (p - b) / b : (b - p) / b);
  /** A gain of the proposed model over `against` in column j, or why there is none. */
  const gainRow = (label: string, against: typeof rows): TableBlock['gains'][number] => {
    const gainValues: Array<number | undefined> = [];
    const notes: Array<string | undefined> = [];
    const ps: Array<number | undefined> = [];
    columns.forEach((_, j) => {
      const missing = [proposed!, ...against].filter((r) => r.cells[j] === undefined).map((r) => r.model);
      if (missing.length) {
        gainValues.push(undefined);
        notes.push(`n/a: ${missing.join(', ')} missing`);
        ps.push(undefined);
        return;
      }
      const p = proposed!.cells[j]!.mean;
      const vals = against.map((r) => r.cells[j]!.mean);
      const best = higherIsBetter ? Math.max(...vals) : Math.min(...vals);
      gainValues.push(best === 0 ? undefined : rel(p, best));
      notes.push(best === 0 ? 'n/a: baseline is 0' : undefined);
      // the test pairs the proposed model with the baseline the gain is against, seed by seed
      const theirs = bySeed.get(against[vals.indexOf(best)]!.model)![j]!;
      ps.push(pairedTTest([...bySeed.get(proposed!.model)![j]!].filter(([seed]) => theirs.has(seed)).map(([seed, v]) => [v, theirs.get(seed)!])));
    });
    return { label, values: gainValues, notes, p: ps };
  };
  if (proposed && others.length) {
    gains.push(gainRow('Gain', others));
    if (backbone && backbone !== proposed) gains.push(gainRow(`Gain w.r.t. ${backbone.model}`, [backbone]));
  }
  const counts = rows.flatMap((r) => r.cells.flatMap((c) => (c ? [c.n] : [])));
  const seeds = counts.length ? Number([...counts.reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<number, number>())].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]![0]) : 0;
  return { dataset, columns, rows, gains, seeds };
}

export function buildReport(spec: ExperimentSpec, cells: CellRecord[]): Report {
  const datasets = uniq(cells.map((c) => c.dataset));
  const attacks = spec.attacks.map((a) => a.name);
  // Table 2 columns: attacks, plus clean entries that name targets to measure T-HR on.
  const attacked = spec.attacks.filter((a) => poisons(a) || a.targets?.length).map((a) => a.name);
  return {
    spec: spec.name,
    table1: datasets.map((d) => block(spec, cells, d, attacks, reportedMetrics('user'), true)),
    table2: attacked.length ? datasets.map((d) => block(spec, cells, d, attacked, reportedMetrics('target'), false)) : [],
    cells: {
      done: cells.filter((c) => c.state === 'done').length,
      failed: cells.filter((c) => c.state === 'failed').length,
      pending: cells.filter((c) => c.state !== 'done' && c.state !== 'failed').length,
    },
  };
}

/** A cell in %: "12.34 ± 0.56" over ≥ 2 seeds, "12.34" over one; its seed count when it differs from the table's. */
function pct(s: Stat | undefined, digits: number, seeds: number, failed: boolean): string {
  if (!s) return failed ? 'failed' : '–';
  const v = (s.mean * 100).toFixed(digits);
  const text = s.n >= 2 ? `${v} ± ${(s.std * 100).toFixed(digits)}` : v;
  return s.n === seeds ? text : `${text} (n=${s.n})`;
}
const gainText = (g: number | undefined, note: string | undefined, p: number | undefined): string =>
  g === undefined ? (note ?? '–') : `${g >= 0 ? '+' : ''}${(g * 100).toFixed(2)}%${p === undefined ? '' : p < SIGNIFICANCE ? ` * (${pText(p)})` : ` (${pText(p)})`}`;
const pText = (p: number): string => (p < 0.001 ? 'p<0.001' : `p=${p.toFixed(3)}`);

/** What the numbers of a block are: over how many seeds, with or without std. */
export function seedsCaption(b: TableBlock): string {
  if (b.seeds === 0) return 'No finished cells.';
  const base = b.seeds >= 2 ? `Mean ± sample std over ${b.seeds} seeds` : 'One seed per cell (no std)';
  return `${base}; a cell with another number of seeds says so as (n=…).`;
}

export function blockToMarkdown(b: TableBlock, digits: number): string {
  const head = ['Model', ...b.columns.map((c) => `${c.attack} ${metricLabel(c.metric)} (%)`)];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of b.rows) lines.push(`| ${r.model} | ${r.cells.map((s, j) => pct(s, digits, b.seeds, r.failed[j]!)).join(' | ')} |`);
  for (const g of b.gains) lines.push(`| ${g.label} | ${g.values.map((v, j) => gainText(v, g.notes[j], g.p[j])).join(' | ')} |`);
  lines.push('', seedsCaption(b));
  if (b.gains.some((g) => g.p.some((p) => p !== undefined)))
    lines.push(`Gain cells: ${SIGNIFICANCE_TEST}, against the model the gain is measured against; * marks p < ${SIGNIFICANCE}.`);
  return lines.join('\n');
}

export function reportToMarkdown(r: Report): string {
  const out = [`# Experiment ${r.spec}`, '', `Cells: ${r.cells.done} done, ${r.cells.failed} failed, ${r.cells.pending} pending.`, ''];
  for (const b of r.table1) out.push(`## Table 1: recommendation performance (${b.dataset})`, '', blockToMarkdown(b, 2), '');
  for (const b of r.table2) out.push(`## Table 2: robustness against target-item promotion (${b.dataset}; lower is better)`, '', blockToMarkdown(b, 3), '');
  return out.join('\n');
}

export function reportToCsv(r: Report): string {
  const lines = ['table,dataset,model,attack,metric,mean,std,n'];
  const add = (t: string, blocks: TableBlock[]): void => {
    for (const b of blocks)
      for (const row of b.rows)
        b.columns.forEach((c, j) => {
          const s = row.cells[j];
          if (s) lines.push([t, b.dataset, JSON.stringify(row.model), c.attack, c.metric, s.mean, s.std, s.n].join(','));
        });
  };
  add('table1', r.table1);
  add('table2', r.table2);
  return lines.join('\n') + '\n';
}

/**
 * Two or three plain sentences on what a report's tables mean: which model lets the attacks'
 * target items into the fewest top-k lists (Table 2's headline metric, per attack), by how much
 * against each other model, and what it costs in accuracy (Table 1's headline metric on the
 * first column, usually Clean). Says nothing it cannot back: a model missing any cell is not
 * ranked, and a winner that changes between attacks is reported as such.
 */
export function summarize(r: Report): string[] {
  const out: string[] = [];
  const fmt = (x: number): string => `${(x * 100).toFixed(2)}%`;
  const rel = (a: number, b: number): string => (b === 0 ? 'n/a' : `${Math.abs((1 - a / b) * 100).toFixed(0)}% ${a <= b ? 'lower' : 'higher'}`);
  for (const t2 of r.table2) {
    const metric = t2.columns[0]?.metric;
    const cols = t2.columns.map((c, j) => [c, j] as const).filter(([c]) => c.metric === metric);
    const complete = t2.rows.filter((row) => cols.every(([, j]) => row.cells[j]));
    if (!metric || complete.length < 2) continue;
    const label = metricLabel(metric);
    const mean = (row: (typeof complete)[number]): number => cols.reduce((s, [, j]) => s + row.cells[j]!.mean, 0) / cols.length;
    const winners = cols.map(([, j]) => complete.reduce((a, b) => (b.cells[j]!.mean < a.cells[j]!.mean ? b : a)).model);
    const attacks = cols.map(([c]) => c.attack);
    const ranked = [...complete].sort((a, b) => mean(a) - mean(b));
    const best = ranked[0]!;
    const tied = ranked.filter((o) => mean(o) === mean(best));
    const others = ranked.slice(1).map((o) => `${o.model} (${fmt(mean(o))}, ${rel(mean(best), mean(o))})`);
    if (tied.length > 1) {
      const rest = ranked.slice(tied.length).map((o) => `${o.model} (${fmt(mean(o))})`);
      out.push(`${tied.map((o) => o.model).join(' and ')} tie as the most robust on ${t2.dataset}: under ${attacks.join(' and ')} their ${label} averages ${fmt(mean(best))}${rest.length ? `, against ${rest.join(' and ')}` : ''}.`);
    } else if (winners.every((w) => w === best.model))
      out.push(`${best.model} is the most robust on ${t2.dataset}: under ${attacks.join(' and ')} its ${label} (how often the attackers' target items reach a user's top list) averages ${fmt(mean(best))}, against ${others.join(' and ')}.`);
    else
      out.push(`No model is the most robust under every attack on ${t2.dataset}: the lowest ${label} is ${attacks.map((a, i) => `${winners[i]} under ${a}`).join(', ')}; averaged over the attacks, ${best.model} is lowest at ${fmt(mean(best))}, against ${others.join(' and ')}.`);
    const t1 = r.table1.find((b) => b.dataset === t2.dataset);
    const acc = t1?.columns[0];
    if (t1 && acc) {
      const row = (m: string): Stat | undefined => t1.rows.find((x) => x.model === m)?.cells[0];
      const b = row(best.model);
      const cmp = ranked.slice(1).map((o) => [o.model, row(o.model)] as const).filter(([, s]) => s);
      if (b && cmp.length && tied.length === 1) {
        const parts = cmp.map(([m, s]) => `${m}'s ${fmt(s!.mean)}`);
        const worse = cmp.filter(([, s]) => s!.mean > b.mean).map(([m]) => m);
        const cost = worse.length ? `it gives up accuracy against ${worse.join(' and ')}` : 'its robustness costs no accuracy';
        out.push(`On ${acc.attack} data its ${metricLabel(acc.metric)} is ${fmt(b.mean)}, against ${parts.join(' and ')}: ${cost}.`);
      }
    }
    const seeds = Math.min(t1?.seeds ?? t2.seeds, t2.seeds);
    if (seeds < 2) out.push('These are one seed per cell: differences of a few hundredths of a percent are within seed noise; more seeds give the spread.');
  }
  return out;
}
