/**
 * npm run bench:train [-- --quality] [--epochs N] [--speed-epochs N] [--lightgcn-steps N] [--sparse] [--threads 1|2]
 *
 * Speed: seconds per epoch of MF, APR and PamaCF (adversarial term on from the first epoch, so
 * the measured epochs are the expensive ones) on full Gowalla (train = train ∪ valid), peak RSS,
 * and LightGCN seconds per step extrapolated to an epoch.
 * --quality: the 30-epoch runs (MF, APR ε=0.3, PamaCF published ρ=0.3; --sparse adds the
 * sparse_adam variants of MF and PamaCF), evaluated at the last epoch on test with full ranking
 * (train ∪ valid masked): Recall@20, NDCG@20.
 */
import { hostDescription, peakRssBytes, type Csr } from '@robustrec/core';
import { load } from './gowalla';
import { Trainer, createScorer, resolveTrainConfig, type TrainConfigInput } from '../src';

const args = process.argv.slice(2);
const flag = (f: string): boolean => args.includes(f);
const opt = (f: string, d: number): number => {
  const i = args.indexOf(f);
  return i >= 0 ? Number(args[i + 1]) : d;
};

// LOCAL full-ranking evaluation (Recall@20, NDCG@20 as the authors compute them: users with
// test items, training items masked, binary relevance, IDCG over min(|test|, k)).
function evaluate(model: ReturnType<Trainer['exportModel']>, train: Csr, test: Csr, k = 20): { recall: number; ndcg: number; seconds: number } {
  const t0 = performance.now();
  const scorer = createScorer(model);
  const ni = scorer.numItems;
  const users: number[] = [];
  for (let u = 0; u < test.numRows; u++) if (test.indptr[u + 1] > test.indptr[u]) users.push(u);
  const CH = 256;
  const out = new Float32Array(CH * ni);
  let rs = 0, ns = 0;
  const topS = new Float32Array(k), topI = new Int32Array(k);
  for (let c0 = 0; c0 < users.length; c0 += CH) {
    const chunk = Uint32Array.from(users.slice(c0, c0 + CH));
    scorer.scoreUsers(chunk, out);
    for (let b = 0; b < chunk.length; b++) {
      const u = chunk[b], o = b * ni;
      for (let p = train.indptr[u]; p < train.indptr[u + 1]; p++) out[o + train.indices[p]] = -Infinity;
      topS.fill(-Infinity); topI.fill(-1);
      for (let i = 0; i < ni; i++) {
        const s = out[o + i];
        if (s > topS[k - 1]) {
          let q = k - 1;
          while (q > 0 && topS[q - 1] < s) { topS[q] = topS[q - 1]; topI[q] = topI[q - 1]; q--; }
          topS[q] = s; topI[q] = i;
        }
      }
      const tset = new Set(test.indices.subarray(test.indptr[u], test.indptr[u + 1]));
      let hits = 0, dcg = 0, idcg = 0;
      for (let q = 0; q < k; q++) if (tset.has(topI[q])) { hits++; dcg += 1 / Math.log2(q + 2); }
      for (let q = 0; q < Math.min(k, tset.size); q++) idcg += 1 / Math.log2(q + 2);
      rs += hits / tset.size;
      ns += dcg / idcg;
    }
  }
  return { recall: rs / users.length, ndcg: ns / users.length, seconds: (performance.now() - t0) / 1000 };
}

const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;

async function main(): Promise<void> {
  console.log(`bench:train on ${hostDescription()}, node ${process.version}, ${new Date().toISOString()}`);
  const t0 = performance.now();
  const { train, test } = load();
  console.log(`Gowalla train∪valid: ${train.numRows} users, ${train.numCols} items, ${train.indptr[train.numRows]} interactions (load ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  if (flag('--quality')) {
    const epochs = opt('--epochs', 30);
    const runs: Array<[string, TrainConfigInput]> = [
      ['MF', { backbone: { name: 'mf' }, defense: { name: 'none' }, epochs }],
      ['APR eps=0.3', { backbone: { name: 'mf' }, defense: { name: 'apr', params: { eps: 0.3 } }, epochs }],
      ['PamaCF published rho=0.3', { backbone: { name: 'mf' }, defense: { name: 'pamacf', params: { rho: 0.3 }, options: { magnitude: 'published' } }, epochs }],
    ];
    if (flag('--sparse'))
      runs.push(
        ['MF sparse_adam', { backbone: { name: 'mf' }, defense: { name: 'none' }, epochs, optimizer: 'sparse_adam' }],
        ['PamaCF rho=0.3 sparse_adam', { backbone: { name: 'mf' }, defense: { name: 'pamacf', params: { rho: 0.3 } }, epochs, optimizer: 'sparse_adam' }],
      );
    const only = args.indexOf('--only');
    const sel = only >= 0 ? runs.filter(([n]) => n.startsWith(args[only + 1])) : runs;
    for (const [name, input] of sel) {
      const tr = Trainer.create(train, resolveTrainConfig(input));
      let secs = 0;
      let last: Record<string, number> = {};
      for (let e = 0; e < epochs; e++) {
        const r = tr.runEpoch();
        secs += r.seconds;
        last = r.metrics;
      }
      const ev = evaluate(tr.exportModel(), train, test);
      console.log(
        `${name.padEnd(28)} Recall@20 ${ev.recall.toFixed(4)}  NDCG@20 ${ev.ndcg.toFixed(4)}  ${(secs / epochs).toFixed(2)} s/epoch  loss ${last.loss.toFixed(4)}  eval ${ev.seconds.toFixed(1)} s  peak RSS ${mb(peakRssBytes())}`,
      );
    }
    return;
  }

  const E = opt('--speed-epochs', 2);
  const threads = opt('--threads', 2);
  console.log(`optimiser update threads: ${threads} (--threads)`);
  const speed: Array<[string, TrainConfigInput]> = [
    ['MF', { backbone: { name: 'mf' }, defense: { name: 'none' } }],
    ['APR eps=0.3', { backbone: { name: 'mf' }, defense: { name: 'apr', params: { eps: 0.3, warmup_epochs: 0 } } }],
    ['PamaCF published rho=0.3', { backbone: { name: 'mf' }, defense: { name: 'pamacf', params: { rho: 0.3, warmup_epochs: 0 } } }],
  ];
  for (const [name, input] of E > 0 ? speed : []) {
    const tr = Trainer.create(train, resolveTrainConfig(input), { threads });
    const times: number[] = [];
    for (let e = 0; e < E; e++) times.push(tr.runEpoch().seconds);
    await tr.close();
    const mean = times.reduce((a, b) => a + b, 0) / E;
    console.log(`${name.padEnd(28)} ${mean.toFixed(2)} s/epoch (epochs: ${times.map((t) => t.toFixed(2)).join(', ')}; ${tr.stepsPerEpoch} steps of 2048)  peak RSS so far ${mb(peakRssBytes())}`);
  }
  const steps = opt('--lightgcn-steps', 5);
  if (steps > 0) {
    const tr = Trainer.create(train, resolveTrainConfig({ backbone: { name: 'lightgcn' }, defense: { name: 'none' } }), { threads });
    // time the first `steps` steps of an epoch, then stop it (a full epoch takes minutes)
    const t1 = performance.now();
    let tStart = 0;
    try {
      tr.runEpoch((s) => {
        if (s === 1) tStart = performance.now();
        if (s === steps + 1) throw new Error('stop');
      });
    } catch (e) {
      if ((e as Error).message !== 'stop') throw e;
    }
    const per = (performance.now() - tStart) / 1000 / steps;
    await tr.close();
    console.log(`LightGCN (3 layers, AdamW)   ${per.toFixed(3)} s/step over ${steps} steps -> ${(per * tr.stepsPerEpoch).toFixed(0)} s/epoch extrapolated (${tr.stepsPerEpoch} steps; setup+first step ${((tStart - t1) / 1000).toFixed(2)} s)`);
  }
  console.log(`peak RSS ${mb(peakRssBytes())}`);
}

await main();
