/**
 * npm run bench:serve — load test of ScoringService over loopback: a Gowalla-sized MF
 * model (random N(0, 0.1) embeddings unless ROBUSTREC_BENCH_MODEL names a registered model
 * in ROBUSTREC_HOME), Recommend top-20 excluding seen items, 32 concurrent clients,
 * 10,000+ requests. Prints throughput, p50/p99 latency and errors.
 */
import { data, scoring } from '@robustrec/contracts';
import { gowallaDir, hostDescription, Rng } from '@robustrec/core';
import { call, createClient, registerModel } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEvaluatorService } from '../src';

const CLIENTS = 32;
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 12_000);
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
const clients = Array.from({ length: CLIENTS }, () => createClient(scoring.ScoringServiceClient, evalSrv.address));
const model = { id: '', name: modelName, version: 0 };
await call(clients[0]!, clients[0]!.loadModel, { model });
await call(clients[0]!, clients[0]!.recommend, { model, user: 0, k: 20, includeSeen: false }); // warm-up
const lat: number[] = [];
let errors = 0;
let issued = 0;
const rng = new Rng(7);
const t0 = performance.now();
await Promise.all(
  clients.map(async (c) => {
    while (issued < REQUESTS) {
      issued++;
      const s = performance.now();
      try {
        await call(c, c.recommend, { model, user: rng.int(29858), k: 20, includeSeen: false });
        lat.push(performance.now() - s);
      } catch {
        errors++;
      }
    }
  }),
);
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!;
console.log(`host: ${hostDescription()}, node ${process.version}; model ${modelName} (${process.env.ROBUSTREC_BENCH_MODEL ? 'registered model' : 'random N(0,0.1) embeddings, Gowalla size'})`);
console.log(`${lat.length + errors} requests, ${CLIENTS} concurrent clients, top-20: ${(lat.length / secs).toFixed(0)} req/s, p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms, max ${lat.at(-1)!.toFixed(1)} ms, errors ${errors}`);
for (const c of clients) c.close();
await evalSrv.shutdown();
await dataSrv.shutdown();
if (!process.env.ROBUSTREC_BENCH_MODEL) rmSync(home, { recursive: true, force: true });
