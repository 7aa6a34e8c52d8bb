/**
 * npm run bench:scale [-- --sizes 1e6,5e6,20e6] [--steps a,b] [--timeout S] [--out DIR] [--append] [--keep]
 * npm run bench:scale -- --report docs/scaling [--out DIR]   (log–log figures of DIR/results.json)
 *
 * Default sizes 1M, 5M, 20M interactions (100M is opt-in: --sizes 1e6,5e6,20e6,100e6); default
 * timeout 600 s per step. --steps picks steps (generate always runs; poison brings random);
 * dp-bounded (DP with epochs 1, rounds 1) runs only when named. --append keeps the records of
 * an earlier run in DIR/results.json (same step × size replaced). Temp data under $TMPDIR,
 * removed at the end of each size unless --keep.
 *
 * Issue 22: every data / attack / training / evaluation / serving step on the seeded synthetic
 * generator at growing sizes, each step in its own child process (peak RSS = that step's:
 * VmHWM at the child's end, which includes loading the dataset it works on; the RSS right
 * after that load is reported as the step's baseline), with a wall-clock timeout per step.
 * Then fits each step's growth exponent b (time ∝ interactions^b, least squares on the logs)
 * and prints a table; --out DIR also gets results.json (one record per step × size).
 *
 * Size rule (Gowalla's ratios, linear growth): users = N / 34.4 and items = N / 25.1 for N
 * interactions (Gowalla: 1,027,370 interactions, 29,858 users, 40,981 items), mean profile
 * 34.4, Zipf popularity exponent 0.62 (the generator's default 0.9 puts ~75% of interactions
 * in the top-10% items; 0.62 gives 39.2% at 1M, Gowalla's 39.4%, and for an exponent < 1 that share does
 * not change with the number of items, so the skew stays the same at every size).
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { hostDescription, peakRssBytes, Rng, type Csr, type InteractionData } from '@robustrec/core';
import { kCoreMask, poison, splitPerUser } from '@robustrec/data';
import { builtinSpec, resolveAttack, runBuiltin, type Profile } from '@robustrec/attacks';
import { Trainer, resolveTrainConfig } from '@robustrec/models';
import { evaluateRanking } from '@robustrec/metrics';
import { dotProductScorer } from '@robustrec/scoring';
import { renderSvg, svgToPng, sweepChart } from '@robustrec/charts';
import { DataStore } from '../../../services/data/src/store';
import { DIM, ITEMS_PER, USERS_PER, ZIPF, lowPopularityTargets, randomMfHeader, randomTable, scaleDataset } from './scale-data';
import { ModelRegistry, ModelServer, type DatasetCache } from '../../../services/evaluator/src';

const args = process.argv.slice(2);
const opt = (f: string): string | undefined => {
  const i = args.indexOf(f);
  return i >= 0 ? args[i + 1] : undefined;
};


export const STEPS = [
  'generate', // synthetic generation + store (CSR, sha256, files, catalogue) + LightGCN text + CSV written
  'import-lightgcn',
  'import-csv',
  'kcore',
  'split',
  'random',
  'poison',
  'dp',
  'dp-bounded', // DP with epochs 1 and rounds 1 (opt-in with --steps): the same loops, 2 BPR epochs instead of 18
  'mf-epoch',
  'mf-epoch-split', // MF epoch with fullTablesUpTo 0 (opt-in): every table's optimiser state outside wasm, the 100M path, at any size
  'pamacf-epoch',
  'eval-sampled',
  'eval-full',
  'upload',
  'serve',
] as const;
type Step = (typeof STEPS)[number];

interface StepResult {
  step: string;
  size: number;
  seconds: number | null;
  peakRssBytes: number | null;
  baselineRssBytes: number | null;
  /** RSS when the child started (Node + modules, no data): the floor every step pays. */
  startRssBytes?: number;
  status: 'ok' | 'timeout' | 'failed' | 'skipped';
  note?: string;
  parts?: Record<string, number>;
}

const mib = (b: number): number => b / 2 ** 20;
const sec = (t0: number): number => (performance.now() - t0) / 1000;

// ---- child side ----------------------------------------------------------------------------

interface Meta {
  home: string;
  datasetId: string;
  lightgcnDir: string;
  csv: string;
}

function openData(work: string): { store: DataStore; meta: Meta; data: InteractionData } {
  const meta = JSON.parse(readFileSync(join(work, 'meta.json'), 'utf8')) as Meta;
  const store = DataStore.open(meta.home, { roots: [work] });
  return { store, meta, data: store.load(meta.datasetId) };
}

function pairsOf(...ms: Csr[]): { u: Uint32Array; i: Uint32Array } {
  const n = ms.reduce((s, m) => s + m.indptr[m.numRows]!, 0);
  const u = new Uint32Array(n);
  const i = new Uint32Array(n);
  let k = 0;
  for (const m of ms)
    for (let r = 0; r < m.numRows; r++)
      for (let p = m.indptr[r]!; p < m.indptr[r + 1]!; p++) {
        u[k] = r;
        i[k++] = m.indices[p]!;
      }
  return { u, i };
}

async function writeText(path: string, m: Csr, format: 'lightgcn' | 'csv'): Promise<void> {
  const ws = createWriteStream(path, { highWaterMark: 1 << 20 });
  let buf = '';
  for (let r = 0; r < m.numRows; r++) {
    const a = m.indptr[r]!;
    const b = m.indptr[r + 1]!;
    if (format === 'lightgcn') {
      if (a === b) continue;
      buf += String(r);
      for (let p = a; p < b; p++) buf += ' ' + m.indices[p]!;
      buf += '\n';
    } else for (let p = a; p < b; p++) buf += `${r},${m.indices[p]!}\n`;
    if (buf.length > 1 << 20) {
      if (!ws.write(buf)) await once(ws, 'drain');
      buf = '';
    }
  }
  ws.end(buf);
  await once(ws, 'finish');
}

async function child(step: Step, size: number, work: string): Promise<void> {
  const startRss = process.memoryUsage().rss;
  const parts: Record<string, number> = {};
  let baseline = 0;
  let seconds = 0;
  let note = '';
  const markBaseline = (): void => {
    baseline = process.memoryUsage().rss;
  };
  if (step === 'generate') {
    const t0 = performance.now();
    let t = performance.now();
    const d = scaleDataset(size);
    parts.synthesize = sec(t);
    const home = join(work, 'home');
    const store = DataStore.open(home, { roots: [work] });
    t = performance.now();
    const r = store.importData(d, { name: `synthetic-${size}` });
    parts.store = sec(t);
    const lightgcnDir = join(work, 'lightgcn');
    mkdirSync(lightgcnDir, { recursive: true });
    t = performance.now();
    await writeText(join(lightgcnDir, 'train.txt'), d.train, 'lightgcn');
    await writeText(join(lightgcnDir, 'valid.txt'), d.valid, 'lightgcn');
    await writeText(join(lightgcnDir, 'test.txt'), d.test, 'lightgcn');
    parts.writeLightgcn = sec(t);
    t = performance.now();
    const csv = join(work, 'interactions.csv');
    const all = pairsOf(d.train, d.valid, d.test);
    const ws = createWriteStream(csv, { highWaterMark: 1 << 20 });
    let buf = '';
    for (let k = 0; k < all.u.length; k++) {
      buf += `${all.u[k]},${all.i[k]}\n`;
      if (buf.length > 1 << 20) {
        if (!ws.write(buf)) await once(ws, 'drain');
        buf = '';
      }
    }
    ws.end(buf);
    await once(ws, 'finish');
    parts.writeCsv = sec(t);
    seconds = sec(t0);
    // the skew actually produced
    const pop = new Uint32Array(d.numItems);
    for (const m of [d.train, d.valid, d.test]) for (let p = 0; p < m.indptr[m.numRows]!; p++) pop[m.indices[p]!]!++;
    const sorted = Array.from(pop).sort((a, b) => b - a);
    const total = sorted.reduce((a, b) => a + b, 0);
    const top = sorted.slice(0, Math.ceil(sorted.length / 10)).reduce((a, b) => a + b, 0);
    note = `users ${d.numUsers}, items ${d.numItems}, interactions ${total} (train ${d.train.indptr[d.numUsers]}), top-10% items hold ${((100 * top) / total).toFixed(1)}%, max item ${sorted[0]}, median ${sorted[Math.floor(sorted.length / 2)]}`;
    writeFileSync(join(work, 'meta.json'), JSON.stringify({ home, datasetId: r.dataset.id, lightgcnDir, csv } satisfies Meta));
    store.close();
  } else if (step === 'import-lightgcn' || step === 'import-csv') {
    const meta = JSON.parse(readFileSync(join(work, 'meta.json'), 'utf8')) as Meta;
    const home = mkdtempSync(join(work, 'imp-'));
    const store = DataStore.open(home, { roots: [work] });
    markBaseline();
    const t0 = performance.now();
    const r =
      step === 'import-lightgcn'
        ? await store.importLightGcn(meta.lightgcnDir, { name: 'scale' })
        : await store.importInteractionFile(meta.csv, { name: 'scale', hasHeader: false, userCore: 0, itemCore: 0 });
    seconds = sec(t0);
    note = `${r.dataset.numTrain + r.dataset.numValid + r.dataset.numTest} interactions`;
    store.close();
    rmSync(home, { recursive: true, force: true });
  } else {
    const { store, meta, data: d } = openData(work);
    void meta;
    if (step === 'kcore') {
      const { u, i } = pairsOf(d.train, d.valid, d.test);
      markBaseline();
      const t0 = performance.now();
      const mask = kCoreMask(u, i, d.numUsers, d.numItems, 10, 10);
      seconds = sec(t0);
      let kept = 0;
      for (let k = 0; k < mask.length; k++) kept += mask[k]!;
      note = `10-core keeps ${kept} of ${mask.length}`;
    } else if (step === 'split') {
      const perUser: Uint32Array[] = [];
      for (let u = 0; u < d.numUsers; u++) {
        const rows = [d.train, d.valid, d.test].map((m) => m.indices.subarray(m.indptr[u]!, m.indptr[u + 1]!));
        const a = new Uint32Array(rows.reduce((s, r) => s + r.length, 0));
        let o = 0;
        for (const r of rows) {
          a.set(r, o);
          o += r.length;
        }
        perUser.push(a);
      }
      markBaseline();
      const t0 = performance.now();
      const s = splitPerUser(perUser, d.numItems, { testRatio: 0.2, validRatio: 0.1 }, new Rng(7));
      seconds = sec(t0);
      note = `train ${s.train.indptr[d.numUsers]}, valid ${s.valid.indptr[d.numUsers]}, test ${s.test.indptr[d.numUsers]}`;
    } else if (step === 'random' || step === 'dp' || step === 'dp-bounded') {
      const targets = lowPopularityTargets(d.train, d.numItems);
      const gen = step === 'dp-bounded' ? 'dp' : step;
      const params: Record<string, number> = step === 'dp-bounded' ? { epochs: 1, rounds: 1 } : {};
      const cfg = resolveAttack({ generator: gen, targetItems: targets, budgetFraction: 0.01, params }, d.train, d.numItems, builtinSpec(gen));
      markBaseline();
      const t0 = performance.now();
      // seconds per phase of the generator (a phase ends with its done === total event)
      let mark = t0;
      const out = await runBuiltin(cfg, d.train, d.numItems, async (e) => {
        if (e.done !== e.total) return;
        parts[e.phase] = sec(mark);
        mark = performance.now();
      });
      if (Object.keys(parts).length) parts.rest = sec(mark);
      seconds = sec(t0);
      note = `${out.profiles.length} fake users, targets ${targets.join(',')}`;
      if (step === 'random') writeFileSync(join(work, 'random.json'), JSON.stringify({ targetItems: cfg.targetItems, profiles: out.profiles }));
    } else if (step === 'poison') {
      const f = join(work, 'random.json');
      if (!existsSync(f)) throw new Error('poison needs the random step first');
      const set = JSON.parse(readFileSync(f, 'utf8')) as { targetItems: number[]; profiles: Profile[] };
      markBaseline();
      const t0 = performance.now();
      const p = poison(d, set);
      seconds = sec(t0);
      note = `${p.numUsers - p.numGenuineUsers} fake users, train ${p.train.indptr[p.numUsers]} (library poison(): new CSR + content id; the service's derivePoisoned also writes files)`;
    } else if (step === 'mf-epoch' || step === 'mf-epoch-split' || step === 'pamacf-epoch') {
      const input =
        step !== 'pamacf-epoch'
          ? { backbone: { name: 'mf' }, defense: { name: 'none' } }
          : { backbone: { name: 'mf' }, defense: { name: 'pamacf', params: { rho: 0.3, warmup_epochs: 0 } } };
      markBaseline();
      let t = performance.now();
      const tr = Trainer.create(d.train, resolveTrainConfig(input), {
        threads: 2,
        ...(step === 'mf-epoch-split' ? { fullTablesUpTo: 0 } : {}),
      });
      parts.setup = sec(t);
      t = performance.now();
      const e = tr.runEpoch();
      seconds = sec(t);
      parts.epoch = e.seconds;
      note = `${tr.stepsPerEpoch} steps of 2048, setup ${parts.setup.toFixed(2)} s`;
      await tr.close();
    } else if (step === 'eval-full' || step === 'eval-sampled') {
      const rng = new Rng(2024);
      const scorer = dotProductScorer(randomTable(rng, d.numUsers), randomTable(rng, d.numItems), DIM);
      const targets = Uint32Array.from(lowPopularityTargets(d.train, d.numItems));
      markBaseline();
      const t0 = performance.now();
      const r = evaluateRanking({
        scorer,
        numGenuineUsers: d.numUsers,
        exclude: [d.train, d.valid],
        relevant: d.test,
        targets,
        targetExclude: [d.train, d.valid, d.test],
        ks: [20],
        threads: 2,
        ...(step === 'eval-sampled' ? { sample: { sampleUsers: Math.min(6000, Math.floor(d.numUsers / 2)) } } : {}),
      });
      seconds = sec(t0);
      note = `${r.usersEvaluated} users × ${d.numItems} items (dim 64, random embeddings, 2 threads)`;
    } else if (step === 'upload' || step === 'serve') {
      const rng = new Rng(2024);
      const U = randomTable(rng, d.numUsers);
      const V = randomTable(rng, d.numItems);
      const regHome = mkdtempSync(join(work, 'reg-'));
      const registry = new ModelRegistry(regHome);
      const header = randomMfHeader('scale-mf', d.id, d.numUsers, d.numItems);
      const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      markBaseline();
      let t0 = performance.now();
      const model = registry.register(ModelRegistry.checkHeader(header), { user_embedding: bytes(U), item_embedding: bytes(V) });
      const up = sec(t0);
      if (step === 'upload') {
        seconds = up;
        note = `${(model.sizeBytes / 2 ** 20).toFixed(0)} MiB of tensors into the evaluator's registry (in-process ModelRegistry.register: file + row; no gRPC stream)`;
      } else {
        const cache = { get: async () => d } as unknown as DatasetCache;
        const server = new ModelServer(registry, cache, { threads: 2 });
        markBaseline();
        t0 = performance.now();
        const served = await server.serve(model);
        seconds = sec(t0);
        parts.rssAfterStartMiB = mib(process.memoryUsage().rss);
        // first requests: each serving thread and batch-ranking helper loads the model and
        // ranks over its packed item table, so the peak is what serving holds, not start-up alone
        t0 = performance.now();
        // the serving threads' answers do not hold the event loop open (in the service the gRPC server does)
        const keepAlive = setInterval(() => undefined, 1000);
        await Promise.all(Array.from({ length: 64 }, (_, u) => server.recommend(served, u % d.numUsers, 20, false)));
        await server.recommendMany(served, Uint32Array.from({ length: Math.min(1024, d.numUsers) }, (_, u) => u), 20, false);
        clearInterval(keepAlive);
        parts.firstRequests = sec(t0);
        parts.rssServingMiB = mib(process.memoryUsage().rss);
        note = `ModelServer.serve (registry load + scorer + 2 serving threads; dataset from memory, not over gRPC); RSS after start-up ${parts.rssAfterStartMiB.toFixed(0)} MiB, after 64 top-20 requests and a 1,024-user batch (every thread loaded, peak) ${parts.rssServingMiB.toFixed(0)} MiB`;
        await server.close();
      }
      registry.close();
      rmSync(regHome, { recursive: true, force: true });
    }
    store.close();
  }
  const res: StepResult = { step, size, seconds, peakRssBytes: peakRssBytes(), baselineRssBytes: baseline || null, startRssBytes: startRss, status: 'ok', note, parts };
  process.stdout.write('\n@@RESULT ' + JSON.stringify(res) + '\n');
  process.exit(0);
}

// ---- parent side ---------------------------------------------------------------------------

/** Least-squares slope of log(y) on log(x) over the points with y > 0. */
export function fitExponent(points: Array<{ x: number; y: number }>): number | null {
  const p = points.filter((q) => q.y > 0 && q.x > 0);
  if (p.length < 2) return null;
  const lx = p.map((q) => Math.log(q.x));
  const ly = p.map((q) => Math.log(q.y));
  const mx = lx.reduce((a, b) => a + b, 0) / p.length;
  const my = ly.reduce((a, b) => a + b, 0) / p.length;
  let num = 0;
  let den = 0;
  for (let k = 0; k < p.length; k++) {
    num += (lx[k]! - mx) * (ly[k]! - my);
    den += (lx[k]! - mx) ** 2;
  }
  return den > 0 ? num / den : null;
}

function runStep(step: Step, size: number, work: string, timeoutS: number): StepResult {
  const self = fileURLToPath(import.meta.url);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...process.execArgv, self, '--child', step, '--size', String(size), '--work', work], {
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    killSignal: 'SIGKILL',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const wall = sec(t0);
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('@@RESULT '));
  if (line) return JSON.parse(line.slice(9)) as StepResult;
  const timedOut = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return {
    step,
    size,
    seconds: timedOut ? null : wall,
    peakRssBytes: null,
    baselineRssBytes: null,
    status: timedOut ? 'timeout' : 'failed',
    note: timedOut ? `killed after ${timeoutS} s` : `exit ${r.status} ${r.signal ?? ''}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`,
  };
}

const fmtSize = (n: number): string => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : `${n}`);

export function table(results: StepResult[]): string {
  const sizes = [...new Set(results.map((r) => r.size))].sort((a, b) => a - b);
  const steps = STEPS.filter((s) => results.some((r) => r.step === s));
  const lines = [
    `| step | ${sizes.map((s) => `${fmtSize(s)}: s / peak MiB`).join(' | ')} | b (time) | b (peak RSS) | (peak − start RSS) / 8 B per interaction, largest size |`,
    `|---|${sizes.map(() => '---|').join('')}---|---|---|`,
  ];
  for (const step of steps) {
    const row = sizes.map((size) => {
      const r = results.find((q) => q.step === step && q.size === size);
      if (!r || r.status === 'skipped') return 'not measured';
      if (r.status === 'timeout') return `> timeout (${r.note})`;
      if (r.status === 'failed') return 'failed';
      return `${r.seconds!.toFixed(2)} / ${mib(r.peakRssBytes!).toFixed(0)}`;
    });
    const ok = results.filter((q) => q.step === step && q.status === 'ok');
    const b = fitExponent(ok.map((q) => ({ x: q.size, y: q.seconds! })));
    const bm = fitExponent(ok.map((q) => ({ x: q.size, y: q.peakRssBytes! })));
    const last = ok.sort((a, c) => c.size - a.size)[0];
    // data = the interaction pairs as two uint32 (8 bytes each); the Node + modules floor is taken off
    const ratio = last ? `${((last.peakRssBytes! - (last.startRssBytes ?? 0)) / (8 * last.size)).toFixed(1)}× (${fmtSize(last.size)})` : '';
    const flag = b !== null && b > 1.15 ? ' **> 1.15**' : '';
    lines.push(`| ${step} | ${row.join(' | ')} | ${b === null ? '—' : b.toFixed(2)}${flag} | ${bm === null ? '—' : bm.toFixed(2)} | ${ratio} |`);
  }
  return lines.join('\n');
}

async function parent(): Promise<void> {
  const sizes = (opt('--sizes') ?? '1e6,5e6,20e6').split(',').map(Number);
  const only = opt('--steps')?.split(',') as Step[] | undefined;
  const timeoutS = Number(opt('--timeout') ?? 600);
  const out = opt('--out') ?? join(tmpdir(), 'robustrec-bench-scale');
  mkdirSync(out, { recursive: true });
  const resultsFile = join(out, 'results.json');
  const results: StepResult[] = existsSync(resultsFile) && args.includes('--append') ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as StepResult[]) : [];
  console.log(`bench:scale on ${hostDescription()}, node ${process.version}, ${new Date().toISOString()}`);
  console.log(`size rule: N interactions -> users = N / ${USERS_PER}, items = N / ${ITEMS_PER} (Gowalla's ratios), mean profile ${USERS_PER}, Zipf exponent ${ZIPF} (top-10% items ≈ 39% of interactions, as Gowalla's 39.4%)`);
  console.log(`sizes ${sizes.map(fmtSize).join(', ')}; timeout per step ${timeoutS} s; results ${resultsFile}`);
  // dp-bounded and mf-epoch-split are opt-in (--steps dp-bounded,mf-epoch-split)
  const selected = (step: Step): boolean => (only ? only.includes(step) || step === 'generate' || (step === 'random' && only.includes('poison')) : step !== 'dp-bounded' && step !== 'mf-epoch-split');
  for (const size of sizes) {
    const work = mkdtempSync(join(tmpdir(), `rr-scale-${fmtSize(size)}-`));
    try {
      for (const step of STEPS) {
        if (!selected(step)) continue;
        const r = runStep(step, size, work, timeoutS);
        const i = results.findIndex((q) => q.step === step && q.size === size);
        if (i >= 0) results.splice(i, 1);
        results.push(r);
        writeFileSync(resultsFile, JSON.stringify(results, null, 1));
        console.log(
          `${fmtSize(size).padStart(5)} ${step.padEnd(16)} ${r.status === 'ok' ? `${r.seconds!.toFixed(2).padStart(9)} s  peak ${mib(r.peakRssBytes!).toFixed(0).padStart(6)} MiB  (after load ${r.baselineRssBytes ? mib(r.baselineRssBytes).toFixed(0) : '—'} MiB)` : r.status}  ${r.note ?? ''}${r.parts && Object.keys(r.parts).length ? '  ' + JSON.stringify(Object.fromEntries(Object.entries(r.parts).map(([k, v]) => [k, +v.toFixed(2)]))) : ''}`,
        );
        if (step === 'generate' && r.status !== 'ok') break;
      }
    } finally {
      if (!args.includes('--keep')) rmSync(work, { recursive: true, force: true });
    }
  }
  console.log('\n' + table(results));
}

/** --report DIR: the log–log figures of a results.json (time and peak RSS per step against interactions). */
async function report(dir: string): Promise<void> {
  const out = opt('--out') ?? join(tmpdir(), 'robustrec-bench-scale');
  const results = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as StepResult[]).filter((r) => r.status === 'ok');
  mkdirSync(dir, { recursive: true });
  const figures: Array<[string, string, (r: StepResult) => number]> = [
    ['time', 'seconds (log scale)', (r) => Math.max(r.seconds!, 1e-3)],
    ['memory', 'peak RSS − start RSS, MiB (log scale)', (r) => Math.max(mib(r.peakRssBytes! - (r.startRssBytes ?? 0)), 1)],
  ];
  // two panels per figure (the palette has 10 colours): data steps, then attack / model / serving steps
  const groups: Array<[string, (s: string) => boolean]> = [
    ['data', (s) => STEPS.indexOf(s as Step) <= STEPS.indexOf('poison')],
    ['model', (s) => STEPS.indexOf(s as Step) > STEPS.indexOf('poison')],
  ];
  for (const [fig, metric, y] of figures)
   for (const [group, inGroup] of groups) {
    const name = `${fig}-${group}`;
    const points = results.filter((r) => inGroup(r.step)).map((r) => ({ series: r.step, x: r.size, mean: y(r), std: 0, n: 1 }));
    const spec = sweepChart(points, 'interactions', metric, { logX: true, title: `bench:scale — ${fig}, ${group} steps, against interactions (log–log)`, seriesTitle: 'Step', width: 520, height: 340 });
    // sweepChart scales x only; both axes logarithmic here, so slopes are the exponents b
    for (const layer of (spec as unknown as { layer: Array<{ encoding: { y: { scale?: unknown } } }> }).layer) layer.encoding.y.scale = { type: 'log' };
    const svg = await renderSvg(spec);
    writeFileSync(join(dir, `${name}.svg`), svg);
    writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
  }
  console.log(table(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as StepResult[]));
}

/** Refuses what the bench does not know before any work starts (a mistyped flag used to run the whole bench). */
function checkArgs(): void {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n?/, '').replace(/^ \* ?/gm, ''));
    process.exit(0);
  }
  const valued = ['--sizes', '--steps', '--timeout', '--out', '--report'];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (valued.includes(a)) i++;
    else if (a !== '--append' && a !== '--keep') throw new Error(`bench:scale: unknown argument ${JSON.stringify(a)} (--help lists them)`);
  }
  for (const s of opt('--steps')?.split(',') ?? []) if (!(STEPS as readonly string[]).includes(s)) throw new Error(`bench:scale: unknown step ${JSON.stringify(s)}; steps: ${STEPS.join(', ')}`);
  for (const n of (opt('--sizes') ?? '1').split(',')) if (!(Number(n) >= 1)) throw new Error(`bench:scale: --sizes takes interaction counts such as 1e6,5e6, got ${JSON.stringify(n)}`);
}

if (args.includes('--child')) await child(opt('--child') as Step, Number(opt('--size')), opt('--work')!);
else {
  checkArgs();
  if (opt('--report')) await report(opt('--report')!);
  else await parent();
}
