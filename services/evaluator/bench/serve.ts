/**
 * npm run bench:serve — load test of ScoringService over loopback: a Gowalla-sized MF
 * model (random N(0, 0.1) embeddings unless ROBUSTREC_BENCH_MODEL names a registered model
 * in ROBUSTREC_HOME), Recommend top-20 excluding seen items, 32 concurrent closed-loop clients,
 * once with unary Recommend calls and once over RecommendStream (one long-lived stream per
 * client): BENCH_WARMUP (4,000) requests not measured, then BENCH_REQUESTS (12,000) measured.
 * Prints throughput, p50/p90/p99 latency, errors and CPU per request for both phases.
 * BENCH_MODES=unary or =stream runs one of them. The client process gets this process's node
 * flags: `npm run bench:serve` runs both with the young-generation size the deployments use
 * (--max-semi-space-size=2, see deploy/ and docs/benchmarks.md).
 */
import { data, scoring } from '@robustrec/contracts';
import { gowallaDir, hostDescription, Rng } from '@robustrec/core';
import { call, createClient, registerModel } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { startEvaluatorService } from '../src';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 12_000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 4_000);
const MODES = (process.env.BENCH_MODES ?? 'unary,stream').split(',') as Mode[];
type Mode = 'unary' | 'stream';

interface Caller {
  ask(req: scoring.RecommendRequest): Promise<scoring.RecommendResponse>;
  close(): void;
}

/** One client's closed loop over RecommendStream: send a request, wait for its answer. */
function streamCaller(c: scoring.ScoringServiceClient): Caller {
  const stream = c.recommendStream();
  const waiting: Array<{ res: (r: scoring.RecommendResponse) => void; rej: (e: Error) => void }> = [];
  stream.on('data', (r: scoring.RecommendStreamResponse) => {
    const w = waiting.shift()!;
    if (r.errorCode) w.rej(new Error(`${r.errorCode}: ${r.errorMessage}`));
    else w.res(r.response!);
  });
  stream.on('error', (e: Error) => waiting.splice(0).forEach((w) => w.rej(e)));
  return {
    ask: (req) =>
      new Promise((res, rej) => {
        waiting.push({ res, rej });
        stream.write({ request: req });
      }),
    close: () => stream.end(),
  };
}

interface PhaseResult {
  n: number;
  errors: number;
  secs: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  clientCpuMs: number;
}

/** `total` requests of random users from the callers' closed loops (each waits for its answer, then asks again). */
async function drive(callers: Caller[], model: scoring.RecommendRequest['model'], total: number, rng: Rng): Promise<PhaseResult> {
  const lat: number[] = [];
  let errors = 0;
  let issued = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    callers.map(async (c) => {
      while (issued < total) {
        issued++;
        const s = performance.now();
        try {
          await c.ask({ model, user: rng.int(29858), k: 20, includeSeen: false });
          lat.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!;
  return { n: lat.length, errors, secs, p50: pct(50), p90: pct(90), p99: pct(99), max: lat.at(-1)!, clientCpuMs: (cpu.user + cpu.system) / 1000 };
}

/**
 * Client mode: 32 concurrent clients in this process. A warm-up phase (not measured: both
 * processes are fresh, and V8 is still compiling the gRPC paths for the first second or so),
 * then the measured phase; each phase's result is one JSON line on stdout, and a line
 * "measure" marks the start of the measured phase for the server's CPU accounting.
 */
async function runClients(address: string, modelName: string, mode: Mode): Promise<void> {
  const clients = Array.from({ length: CLIENTS }, () => createClient(scoring.ScoringServiceClient, address));
  const model = { id: '', name: modelName, version: 0 };
  await call(clients[0]!, clients[0]!.loadModel, { model });
  const callers: Caller[] = clients.map((c) => (mode === 'stream' ? streamCaller(c) : { ask: (req: scoring.RecommendRequest) => call(c, c.recommend, req), close: () => undefined }));
  const rng = new Rng(7);
  const warm = await drive(callers, model, WARMUP, rng);
  process.stdout.write(`${JSON.stringify({ phase: 'warmup', ...warm })}\nmeasure\n`);
  const res = await drive(callers, model, REQUESTS, rng);
  process.stdout.write(`${JSON.stringify({ phase: 'measured', ...res })}\n`);
  for (const c of callers) c.close();
  for (const c of clients) c.close();
}

/** This process's node flags other than module loaders (they go to the client process too). */
function nodeFlags(): string[] {
  const a = process.execArgv;
  return a.filter((f, i) => !/^--(import|require)(=|$)/.test(f) && !/^--(import|require)$/.test(a[i - 1] ?? ''));
}

const at = process.argv.indexOf('--client');
if (at >= 0) {
  await runClients(process.argv[at + 1]!, process.argv[at + 2]!, process.argv[at + 3] as Mode);
  process.exit(0);
}

const dir = gowallaDir();
if (!dir) throw new Error('Gowalla not found (set ROBUSTREC_DATASETS_DIR)');
const home = process.env.ROBUSTREC_BENCH_MODEL ? (process.env.ROBUSTREC_HOME ?? '.robustrec') : mkdtempSync(join(tmpdir(), 'rr-serve-'));
const dataSrv = await startDataService({ home });
const evalSrv = await startEvaluatorService({ home, dataAddress: dataSrv.address });
let modelName = process.env.ROBUSTREC_BENCH_MODEL ?? '';
if (!modelName) {
  const dc = createClient(data.DataServiceClient, dataSrv.address);
  const ds = (await call(dc, dc.importDataset, { name: 'gowalla', lightgcn: { directory: dir, mergeValidIntoTrain: true } })).dataset!;
  dc.close();
  const rng = new Rng(1);
  const t = (n: number): Float32Array => Float32Array.from({ length: n * 64 }, () => 0.1 * rng.normal());
  modelName = 'bench-mf';
  await registerModel(evalSrv.address, {
    id: '', name: modelName, version: 0, backbone: 'mf', defense: 'none', datasetId: ds.id, jobId: '', numUsers: ds.numUsers, numItems: ds.numItems,
    tensors: [{ name: 'user_embedding', shape: [ds.numUsers, 64] }, { name: 'item_embedding', shape: [ds.numItems, 64] }], metrics: [], provenance: undefined, sizeBytes: 0,
  }, { user_embedding: t(ds.numUsers), item_embedding: t(ds.numItems) });
}
// The load comes from a separate process so that the clients' own gRPC work does not
// share the server's event loop (as with any real client).
const { spawn } = await import('node:child_process');
console.log(`host: ${hostDescription()}, node ${process.version} ${nodeFlags().join(' ')}; model ${modelName} (${process.env.ROBUSTREC_BENCH_MODEL ? 'registered model' : 'random N(0,0.1) embeddings, Gowalla size'})`);
const how = { stream: 'RecommendStream, one stream per client', unary: 'unary Recommend' };
const line = (r: PhaseResult): string =>
  `${r.n + r.errors} requests, ${(r.n / r.secs).toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p90 ${r.p90.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms, errors ${r.errors}`;
console.log(`${CLIENTS} concurrent closed-loop clients in a separate process, top-20 excluding seen items, random users`);
for (const mode of MODES) {
  const child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--client', evalSrv.address, modelName, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const results: Record<string, PhaseResult> = {};
  let serverCpu0 = process.cpuUsage();
  createInterface({ input: child.stdout }).on('line', (l) => {
    if (l === 'measure') serverCpu0 = process.cpuUsage();
    else if (l.startsWith('{')) {
      const r = JSON.parse(l) as PhaseResult & { phase: string };
      results[r.phase] = r;
    }
  });
  await new Promise((r) => child.on('close', r)); // after its stdout has ended, so every line has arrived
  const serverCpu = process.cpuUsage(serverCpu0);
  const warm = results.warmup!;
  const res = results.measured!;
  console.log(`${how[mode]}:`);
  console.log(`  warm-up (not measured): ${line(warm)}`);
  console.log(`  measured: ${line(res)}`);
  const perReq = (ms: number): string => `${((ms * 1000) / (res.n + res.errors)).toFixed(0)} us`;
  console.log(`  CPU per measured request: server ${perReq((serverCpu.user + serverCpu.system) / 1000)} (all threads), clients ${perReq(res.clientCpuMs)}`);
}
await evalSrv.shutdown();
await dataSrv.shutdown();
if (!process.env.ROBUSTREC_BENCH_MODEL) rmSync(home, { recursive: true, force: true });
