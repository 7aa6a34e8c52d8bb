/**
 * npm run bench:serve — load test of the evaluator's serving over loopback: a Gowalla-sized MF
 * model (random N(0, 0.1) embeddings unless ROBUSTREC_BENCH_MODEL names a registered model
 * in ROBUSTREC_HOME), top-20 excluding seen items, 32 concurrent closed-loop clients in a
 * separate process, in three modes: unary Recommend calls, RecommendStream (one long-lived
 * stream per client), and OIP HTTP/REST infer (one user per request, keep-alive connections).
 * Per mode: BENCH_WARMUP (4,000) requests not measured, then BENCH_RUNS (3) measured runs of
 * BENCH_REQUESTS (12,000) each; prints every run (throughput, p50/p90/p99, errors, CPU per
 * request of server and client) and their medians. A fourth mode, batch, scores every user
 * (top-20, seen masked) on the batch path: RecommendMany over gRPC in chunks of 5,000 users,
 * two in flight, as `robustrec score` does, and the same ranking in-process without the
 * transport; BENCH_RUNS runs, median users/s.
 * BENCH_MODES=unary,stream,rest,batch picks modes. The client process gets this process's node
 * flags: `npm run bench:serve` runs both with the young-generation size the deployments use
 * (--max-semi-space-size=2, see deploy/ and docs/benchmarks.md). The load average at the
 * start and end is printed: on a shared 2-core host the figures follow it.
 */
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
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
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MODES = (process.env.BENCH_MODES ?? 'unary,stream,rest,batch').split(',') as Array<Mode | 'batch'>;
type Mode = 'unary' | 'stream' | 'rest';

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

/** One client's closed loop over OIP HTTP/REST infer (a keep-alive connection of a shared agent). */
function restCaller(httpAddress: string, modelName: string, agent: Agent): Caller {
  const path = `/v2/models/${encodeURIComponent(modelName)}/infer`;
  return {
    ask: (req) =>
      new Promise((resolve, reject) => {
        const body = `{"parameters":{"k":${req.k}},"inputs":[{"name":"user","shape":[1],"datatype":"INT64","data":[${req.user}]}]}`;
        const q = request({ host: httpAddress.slice(0, httpAddress.lastIndexOf(':')), port: Number(httpAddress.slice(httpAddress.lastIndexOf(':') + 1)), path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            const j = JSON.parse(text) as { outputs: Array<{ name: string; data: number[] }> };
            resolve({ items: j.outputs[0]!.data, scores: j.outputs[1]!.data, modelId: '', version: undefined });
          });
        });
        q.on('error', reject);
        q.end(body);
      }),
    close: () => undefined,
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
async function runClients(address: string, httpAddress: string, modelName: string, mode: Mode): Promise<void> {
  const clients = Array.from({ length: CLIENTS }, () => createClient(scoring.ScoringServiceClient, address));
  const model = { id: '', name: modelName, version: 0 };
  await call(clients[0]!, clients[0]!.loadModel, { model });
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const callers: Caller[] = clients.map((c) =>
    mode === 'stream' ? streamCaller(c) : mode === 'rest' ? restCaller(httpAddress, modelName, agent) : { ask: (req: scoring.RecommendRequest) => call(c, c.recommend, req), close: () => undefined },
  );
  const rng = new Rng(7);
  const warm = await drive(callers, model, WARMUP, rng);
  process.stdout.write(`${JSON.stringify({ phase: 'warmup', ...warm })}\n`);
  for (let run = 1; run <= RUNS; run++) {
    process.stdout.write('measure\n');
    const res = await drive(callers, model, REQUESTS, rng);
    process.stdout.write(`${JSON.stringify({ phase: `run${run}`, ...res })}\n`);
  }
  for (const c of callers) c.close();
  for (const c of clients) c.close();
  agent.destroy();
}

/** This process's node flags other than module loaders (they go to the client process too). */
function nodeFlags(): string[] {
  const a = process.execArgv;
  return a.filter((f, i) => !/^--(import|require)(=|$)/.test(f) && !/^--(import|require)$/.test(a[i - 1] ?? ''));
}

const at = process.argv.indexOf('--client');
if (at >= 0) {
  await runClients(process.argv[at + 1]!, process.argv[at + 2]!, process.argv[at + 3]!, process.argv[at + 4] as Mode);
  process.exit(0);
}

const dir = gowallaDir();
if (!dir) throw new Error('Gowalla not found (set ROBUSTREC_DATASETS_DIR)');
const home = process.env.ROBUSTREC_BENCH_MODEL ? (process.env.ROBUSTREC_HOME ?? '.robustrec') : mkdtempSync(join(tmpdir(), 'rr-serve-'));
const dataSrv = await startDataService({ home });
const evalSrv = await startEvaluatorService({ home, dataAddress: dataSrv.address, httpAddress: '127.0.0.1:0' });
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
const how = { stream: 'RecommendStream, one stream per client', unary: 'unary Recommend', rest: 'OIP HTTP/REST infer, one user per request, keep-alive' };
const line = (r: PhaseResult): string =>
  `${r.n + r.errors} requests, ${(r.n / r.secs).toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p90 ${r.p90.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms, errors ${r.errors}`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`${CLIENTS} concurrent closed-loop clients in a separate process, top-20 excluding seen items, random users; load average at start ${load()}`);
for (const mode of MODES) {
  if (mode === 'batch') {
    await batchMode();
    continue;
  }
  const child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--client', evalSrv.address, evalSrv.httpAddress!, modelName, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const results: Record<string, PhaseResult & { serverCpuMs: number; load: string }> = {};
  let serverCpu0 = process.cpuUsage();
  createInterface({ input: child.stdout }).on('line', (l) => {
    if (l === 'measure') serverCpu0 = process.cpuUsage();
    else if (l.startsWith('{')) {
      const r = JSON.parse(l) as PhaseResult & { phase: string };
      const c = process.cpuUsage(serverCpu0);
      results[r.phase] = { ...r, serverCpuMs: (c.user + c.system) / 1000, load: load() };
    }
  });
  await new Promise((r) => child.on('close', r)); // after its stdout has ended, so every line has arrived
  console.log(`${how[mode]}:`);
  console.log(`  warm-up (not measured): ${line(results.warmup!)}`);
  const runs = Array.from({ length: RUNS }, (_, i) => results[`run${i + 1}`]!);
  const perReq = (ms: number, r: PhaseResult): number => (ms * 1000) / (r.n + r.errors);
  for (const [i, r] of runs.entries())
    console.log(`  run ${i + 1}: ${line(r)}; CPU per request: server ${perReq(r.serverCpuMs, r).toFixed(0)} us (all threads), client ${perReq(r.clientCpuMs, r).toFixed(0)} us; load ${r.load}`);
  const med = (f: (r: (typeof runs)[number]) => number): number => median(runs.map(f));
  console.log(
    `  median of ${RUNS}: ${med((r) => r.n / r.secs).toFixed(0)} req/s, p50 ${med((r) => r.p50).toFixed(2)} ms, p90 ${med((r) => r.p90).toFixed(2)} ms, p99 ${med((r) => r.p99).toFixed(2)} ms, errors ${runs.reduce((a, r) => a + r.errors, 0)} of ${runs.reduce((a, r) => a + r.n + r.errors, 0)}, CPU per request: server ${med((r) => perReq(r.serverCpuMs, r)).toFixed(0)} us, client ${med((r) => perReq(r.clientCpuMs, r)).toFixed(0)} us`,
  );
}

/**
 * Offline scoring of every user: RecommendMany over gRPC in chunks (two in flight, as
 * `robustrec score`), then the batch path in-process (ModelServer.recommendMany, no transport).
 */
async function batchMode(): Promise<void> {
  const sc = createClient(scoring.ScoringServiceClient, evalSrv.address);
  const model = { id: '', name: modelName, version: 0, alias: '' };
  const info = (await call(sc, sc.loadModel, { model })).model!;
  const all = Uint32Array.from({ length: info.numUsers }, (_, u) => u);
  const chunk = 5000;
  const grpcRun = async (): Promise<number> => {
    const t0 = performance.now();
    const asks: Array<Promise<unknown>> = [];
    let next = 0;
    const one = async (): Promise<void> => {
      while (next < all.length) {
        const s = next;
        next = Math.min(all.length, next + chunk);
        const r = await call(sc, sc.recommendMany, { model, users: Array.from(all.subarray(s, next)), k: 20, includeSeen: false }, { kind: 'work' });
        if (r.items.length !== (next - s) * 20 && r.items.length < 20) throw new Error('short answer');
      }
    };
    asks.push(one(), one());
    await Promise.all(asks);
    return all.length / ((performance.now() - t0) / 1000);
  };
  const server = evalSrv.modelServer;
  const served = await server.resolve(model);
  /** CPU of this process (every thread) per user of the last local run, in microseconds. */
  const cpuPerUser: number[] = [];
  const localRun = async (): Promise<number> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await server.recommendMany(served, all, 20, false);
    const c = process.cpuUsage(c0);
    cpuPerUser.push((c.user + c.system) / all.length);
    return all.length / ((performance.now() - t0) / 1000);
  };
  await localRun(); // warm-up: packs the helpers' kernels, compiles the paths
  cpuPerUser.length = 0;
  const g: number[] = [];
  const l: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    g.push(await grpcRun());
    l.push(await localRun());
  }
  sc.close();
  console.log(`batch scoring, all ${all.length} users, top-20 excluding seen items (load ${load()}):`);
  console.log(`  RecommendMany over gRPC, chunks of ${chunk}, 2 in flight: ${g.map((x) => x.toFixed(0)).join(', ')} users/s; median ${median(g).toFixed(0)} users/s`);
  console.log(`  ranking alone (in-process ModelServer.recommendMany): ${l.map((x) => x.toFixed(0)).join(', ')} users/s; median ${median(l).toFixed(0)} users/s`);
  const cpu = median(cpuPerUser);
  console.log(`  CPU per user of the ranking (all threads): median ${cpu.toFixed(1)} us, i.e. at most ${(2e6 / cpu).toFixed(0)} users/s if both cores were free for it`);
}

console.log(`load average at end ${load()}`);
await evalSrv.shutdown();
await dataSrv.shutdown();
if (!process.env.ROBUSTREC_BENCH_MODEL) rmSync(home, { recursive: true, force: true });
