import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng, RrError, csrFromPairs, gowallaDir, type Csr } from '@robustrec/core';
import { normalizedAdjacency, referenceNeuMfLoss, tf, type WeightedCsr } from '@robustrec/engine';
import { Trainer, componentSpecs, decodeCheckpoint, encodeCheckpoint, resolveTrainConfig, type TrainConfigInput } from '../src';
import { rocAuc } from '../src/defenses/graphrfi';
import { checkBatch, expectRejected, relErr, synthetic } from './helpers';

const train = synthetic(60, 45, 8);

const pOf = (tr: Trainer): Float32Array => tr.checkpoint().tensors['defense/graphrfi.p_fraud']!;
const weightOf = (tr: Trainer): Float32Array | undefined => tr.checkpoint().tensors['defense/graphrfi.weight'];
const defenseState = (tr: Trainer) => (tr.checkpoint().state as { defense: { detector_auc: number | null; flagged: number; fitted_epoch: number; synthetic_users: number } }).defense;

/** AUC by pairs (independent of the defense's rocAuc): P(score of a fake > score of a genuine user), ties half. */
function pairAuc(scores: ArrayLike<number>, isFake: (u: number) => boolean, users: number): number {
  const f: number[] = [], g: number[] = [];
  for (let u = 0; u < users; u++) (isFake(u) ? f : g).push(scores[u]!);
  g.sort((a, b) => a - b);
  let s = 0;
  for (const x of f) {
    let lo = 0, hi = g.length;
    while (lo < hi) (g[(lo + hi) >> 1]! < x ? (lo = ((lo + hi) >> 1) + 1) : (hi = (lo + hi) >> 1));
    let eq = lo;
    while (eq < g.length && g[eq] === x) eq++;
    s += lo + (eq - lo) / 2;
  }
  return s / (f.length * g.length);
}

/**
 * The weighted step's loss by tfjs autodiff, written here from the definition:
 * (1/n)·Σ_b w_b·softplus(s(u_b, j_b) − s(u_b, i_b)) + l2·(mean||u||² + mean||i||² + mean||j||²) on
 * the ego rows; final rows = the tables (MF) or mean_{k≤K} Â^k E (LightGCN, dense Â).
 */
function weightedReference(u: Float32Array, v: Float32Array, nu: number, ni: number, d: number, b: { users: Uint32Array; pos: Uint32Array; neg: Uint32Array }, w: Float32Array, l2: number, graph?: { adj: WeightedCsr; layers: number }) {
  return tf.tidy(() => {
    const users = tf.tensor1d(Int32Array.from(b.users), 'int32');
    const pos = tf.tensor1d(Int32Array.from(b.pos), 'int32');
    const neg = tf.tensor1d(Int32Array.from(b.neg), 'int32');
    const wt = tf.tensor1d(w);
    let A: tf.Tensor2D | undefined;
    if (graph) {
      const N = nu + ni;
      const dense = new Float32Array(N * N);
      for (let r = 0; r < N; r++) for (let p = graph.adj.indptr[r]!; p < graph.adj.indptr[r + 1]!; p++) dense[r * N + graph.adj.indices[p]!] = graph.adj.values[p]!;
      A = tf.tensor2d(dense, [N, N]);
    }
    const f = (U: tf.Tensor, V: tf.Tensor): tf.Scalar => {
      let fu = U as tf.Tensor2D, fv = V as tf.Tensor2D;
      if (A && graph) {
        const e0 = tf.concat([U as tf.Tensor2D, V as tf.Tensor2D], 0);
        let e = e0, acc = e0;
        for (let k = 0; k < graph.layers; k++) acc = tf.add(acc, (e = tf.matMul(A, e)));
        [fu, fv] = tf.split(tf.div(acc, graph.layers + 1), [nu, ni], 0) as [tf.Tensor2D, tf.Tensor2D];
      }
      const eu = tf.gather(fu, users), ei = tf.gather(fv, pos), ej = tf.gather(fv, neg);
      const l = tf.softplus(tf.sub(tf.sum(tf.mul(eu, ej), 1), tf.sum(tf.mul(eu, ei), 1)));
      const bpr = tf.div(tf.sum(tf.mul(l, wt)), b.users.length);
      const sq = (x: tf.Tensor): tf.Tensor => tf.mean(tf.sum(tf.square(x), 1));
      return tf.add(bpr, tf.mul(l2, tf.addN([sq(tf.gather(U, users)), sq(tf.gather(V, pos)), sq(tf.gather(V, neg))]))) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(f)([tf.tensor2d(u, [nu, d]), tf.tensor2d(v, [ni, d])]);
    return { loss: value.dataSync()[0]!, grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
}

/** Genuine users mostly in their cluster's items (popularity skewed within it), then fake users with uniform random items. */
function poisoned(nu: number, nf: number, ni: number, per: number, seed: number): Csr {
  const rng = new Rng(seed);
  const rows: number[] = [], cols: number[] = [];
  for (let u = 0; u < nu; u++)
    for (let k = 0; k < per; k++) {
      let i = Math.floor(ni * rng.next() ** 2); // skewed towards low ids
      if (rng.next() < 0.8) i = (Math.floor(i / 4) * 4 + (u % 4)) % ni;
      rows.push(u), cols.push(i);
    }
  for (let f = 0; f < nf; f++) for (let k = 0; k < per; k++) rows.push(nu + f), cols.push(rng.int(ni));
  return csrFromPairs(nu + nf, ni, rows, cols);
}

describe('graphrfi: parameters', () => {
  it('is registered with its documented defaults', () => {
    const spec = componentSpecs().defenses.find((d) => d.name === 'graphrfi')!;
    expect(spec).toBeDefined();
    expect(Object.keys(spec.params)).toEqual(['warmup_epochs', 'gamma', 'threshold', 'synthetic_ratio', 'detector_l2', 'detector_steps']);
    const c = resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'graphrfi' } });
    expect(c.defense.params).toEqual({ warmup_epochs: 5, gamma: 1, threshold: 1, synthetic_ratio: 0.1, detector_l2: 0.01, detector_steps: 50 });
  });
  for (const [field, params] of [
    ['config.defense.params.gamma', { gamma: -1 }],
    ['config.defense.params.gamma', { gamma: 11 }],
    ['config.defense.params.threshold', { threshold: 1.5 }],
    ['config.defense.params.threshold', { threshold: NaN }],
    ['config.defense.params.synthetic_ratio', { synthetic_ratio: 0 }],
    ['config.defense.params.detector_l2', { detector_l2: 0 }],
    ['config.defense.params.detector_steps', { detector_steps: 0 }],
    ['config.defense.params.detector_steps', { detector_steps: 2.5 }],
    ['config.defense.params.warmup_epochs', { warmup_epochs: -1 }],
    ['config.defense.params.fake_labels', { fake_labels: 1 }],
  ] as Array<[string, Record<string, number>]>)
    it(`rejects ${JSON.stringify(params)} naming ${field}`, () => {
      expectRejected({ backbone: { name: 'mf' }, defense: { name: 'graphrfi', params } }, field);
    });
  it('a threshold that gives every user weight 0 stops with FAILED_PRECONDITION naming it', () => {
    const tr = Trainer.create(train, resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'graphrfi', params: { threshold: 0, warmup_epochs: 0 } }, dim: 8, batchSize: 32, seed: 1 }));
    try {
      tr.runEpoch();
      expect.fail('trained');
    } catch (e) {
      expect((e as RrError).code).toBe('FAILED_PRECONDITION');
      expect((e as RrError).field).toBe('config.defense.params.threshold');
    }
  });
});

describe('graphrfi: the detector separates injected Random fake users from genuine ones (never told which they are)', () => {
  it('synthetic clustered data with 10% uniform-random fake users: AUC of p_fraud, mf and lightgcn', async () => {
    const nu = 300, nf = 30;
    const data = poisoned(nu, nf, 120, 12, 3);
    for (const backbone of ['mf', 'lightgcn']) {
      const tr = Trainer.create(data, resolveTrainConfig({ backbone: { name: backbone }, defense: { name: 'graphrfi', params: { warmup_epochs: 3, synthetic_ratio: 1 } }, dim: 16, batchSize: 128, seed: 1, lr: 1e-2 }));
      for (let e = 0; e < 8; e++) expect(Number.isFinite(tr.runEpoch().metrics.loss)).toBe(true);
      const p = pOf(tr);
      const auc = pairAuc(p, (u) => u >= nu, nu + nf);
      expect(rocAuc(p, Array.from({ length: nu + nf }, (_, u) => (u >= nu ? 1 : 0)))).toBeCloseTo(auc, 12);
      const st = defenseState(tr);
      console.log(`graphrfi synthetic ${backbone}: AUC ${auc.toFixed(4)} (detector on its own labelled data ${st.detector_auc?.toFixed(4)})`);
      expect(auc).toBeGreaterThan(0.9);
      const w = weightOf(tr)!;
      let wg = 0, wf = 0;
      for (let u = 0; u < nu + nf; u++) u < nu ? (wg += w[u]!) : (wf += w[u]!);
      expect(wf / nf).toBeLessThan(wg / nu);
      await tr.close();
    }
  });

  const dir = gowallaDir();
  it.skipIf(!dir)("Gowalla with 150 of the authors' Random-attack profiles injected (mf, dim 16): AUC of p_fraud", async () => {
    const rows: number[] = [], cols: number[] = [];
    let nu = 0;
    for (const line of readFileSync(join(dir!, 'train.txt'), 'utf8').split('\n')) {
      const f = line.trim().split(' ').map(Number);
      if (f.length < 2) continue;
      for (let k = 1; k < f.length; k++) rows.push(f[0]!), cols.push(f[k]!);
      nu = Math.max(nu, f[0]! + 1);
    }
    const fakes = Object.values((JSON.parse(readFileSync(join(dir!, 'attacks', 'random.json'), 'utf8')) as { fake_users: Record<string, string[]> }).fake_users).slice(0, 150);
    fakes.forEach((p, f) => p.forEach((i) => (rows.push(nu + f), cols.push(Number(i)))));
    const data = csrFromPairs(nu + fakes.length, 40981, rows, cols);
    const tr = Trainer.create(data, resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'graphrfi', params: { warmup_epochs: 2 } }, dim: 16, batchSize: 2048, seed: 1, lr: 1e-2 }));
    for (let e = 0; e < 4; e++) tr.runEpoch();
    const p = pOf(tr);
    const auc = pairAuc(p, (u) => u >= nu, nu + fakes.length);
    const st = defenseState(tr);
    console.log(`graphrfi gowalla random: AUC ${auc.toFixed(4)}, flagged (p > 0.5) ${st.flagged}, detector on its own labelled data ${st.detector_auc?.toFixed(4)}`);
    expect(st.fitted_epoch).toBe(3);
    expect(auc).toBeGreaterThan(0.93);
    await tr.close();
  }, 180_000);
});

describe('graphrfi: weighted step vs tfjs autodiff (loss and gradients within 1e-5)', () => {
  const cfgOf = (backbone: string, d: number, params: Record<string, number> = {}) =>
    resolveTrainConfig({ backbone: { name: backbone }, defense: { name: 'graphrfi', params: { warmup_epochs: 1, gamma: 3, synthetic_ratio: 1, ...params } }, dim: d, batchSize: 16, l2: 1e-2, lr: 1e-2, seed: 5 });
  const rowWeights = (w: Float32Array, users: Uint32Array): Float32Array => Float32Array.from(users, (u) => w[u]!);

  it('mf', () => {
    const tr = Trainer.create(train, cfgOf('mf', 8));
    for (let e = 0; e < 2; e++) tr.runEpoch();
    const b = checkBatch(train);
    const got = tr.gradientsFor(b.users, b.pos, b.neg);
    const w = rowWeights(weightOf(tr)!, b.users);
    expect(Math.max(...w) - Math.min(...w)).toBeGreaterThan(0.01); // the weights differ across the batch
    const [U, V] = tr.tables;
    const ref = weightedReference(U!.data, V!.data, train.numRows, train.numCols, 8, b, w, 1e-2);
    expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    const eu = relErr(got.grads.user_embedding!, ref.grads[0]!), ei = relErr(got.grads.item_embedding!, ref.grads[1]!);
    console.log(`graphrfi mf: relErr user ${eu.toExponential(2)}, item ${ei.toExponential(2)}`);
    expect(eu).toBeLessThan(1e-5);
    expect(ei).toBeLessThan(1e-5);
    // not vacuous: the unweighted loss's gradient is far from it
    const plain = weightedReference(U!.data, V!.data, train.numRows, train.numCols, 8, b, w.map(() => 1), 1e-2);
    expect(relErr(got.grads.user_embedding!, plain.grads[0]!)).toBeGreaterThan(1e-2);
  });

  for (const d of [8, 32])
    it(`lightgcn, dim ${d}`, async () => {
      const tr = Trainer.create(train, cfgOf('lightgcn', d), { threads: d === 32 ? 2 : 1 });
      for (let e = 0; e < 2; e++) tr.runEpoch();
      const b = checkBatch(train);
      const got = tr.gradientsFor(b.users, b.pos, b.neg);
      const w = rowWeights(weightOf(tr)!, b.users);
      await tr.close();
      expect(Math.max(...w) - Math.min(...w)).toBeGreaterThan(0.01);
      const E = tr.tables[0]!.data;
      const nu = train.numRows;
      const ref = weightedReference(E.slice(0, nu * d), E.slice(nu * d), nu, train.numCols, d, b, w, 1e-2, { adj: normalizedAdjacency(train), layers: 3 });
      expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      const g = got.grads.embedding!;
      const eu = relErr(g.subarray(0, nu * d), ref.grads[0]!), ei = relErr(g.subarray(nu * d), ref.grads[1]!);
      console.log(`graphrfi lightgcn dim ${d}: relErr user ${eu.toExponential(2)}, item ${ei.toExponential(2)}`);
      expect(eu).toBeLessThan(1e-5);
      expect(ei).toBeLessThan(1e-5);
    });

  it('neumf (head included), against its tfjs reference by linearity: Σ_b w_b/n·∇BPR_b + ∇L2', () => {
    const D = 8;
    const tr = Trainer.create(train, cfgOf('neumf', D));
    for (let e = 0; e < 2; e++) tr.runEpoch();
    const b = checkBatch(train);
    const got = tr.gradientsFor(b.users, b.pos, b.neg);
    const w = rowWeights(weightOf(tr)!, b.users);
    expect(Math.max(...w) - Math.min(...w)).toBeGreaterThan(0.01);
    const t = Object.fromEntries(tr.tables.map((x) => [x.name, x.data.slice()]));
    const head = { w1: t.mlp_w1!, b1: t.mlp_b1!, w2: t.mlp_w2!, b2: t.mlp_b2!, h: t.output_h! };
    const ref = (users: Uint32Array, pos: Uint32Array, neg: Uint32Array, l2: number) => referenceNeuMfLoss(t.user_embedding!, t.item_embedding!, head, train.numRows, train.numCols, D, { users, pos, neg, l2 });
    const withL2 = ref(b.users, b.pos, b.neg, 1e-2), noL2 = ref(b.users, b.pos, b.neg, 0);
    const n = b.users.length;
    let loss = withL2.loss - noL2.loss;
    const grads = withL2.grads.map((g, q) => g.map((x, k) => x - noL2.grads[q]![k]!));
    for (let q = 0; q < n; q++) {
      const one = ref(b.users.slice(q, q + 1), b.pos.slice(q, q + 1), b.neg.slice(q, q + 1), 0);
      loss += (w[q]! * one.loss) / n;
      one.grads.forEach((g, k) => g.forEach((x, i) => (grads[k]![i]! += (w[q]! / n) * x)));
    }
    expect(Math.abs(got.loss - loss) / loss).toBeLessThan(1e-5);
    ['user_embedding', 'item_embedding', 'mlp_w1', 'mlp_b1', 'mlp_w2', 'mlp_b2', 'output_h'].forEach((k, q) => {
      expect(relErr(got.grads[k]!, grads[q]!), k).toBeLessThan(1e-5);
    });
  });
});

describe('graphrfi: training', () => {
  it('with every weight 1 (gamma 0, threshold 1) it trains bit-for-bit as the plain backbone, though the detector runs (mf, lightgcn, neumf)', async () => {
    for (const [backbone, d, threads] of [['mf', 8, 1], ['lightgcn', 8, 1], ['lightgcn', 32, 2], ['neumf', 8, 1]] as const) {
      const base: TrainConfigInput = { backbone: { name: backbone }, defense: { name: 'none' }, dim: d, batchSize: 32, epochs: 3, seed: 11, lr: 1e-2 };
      const plain = Trainer.create(train, resolveTrainConfig(base), { threads });
      const gr = Trainer.create(train, resolveTrainConfig({ ...base, defense: { name: 'graphrfi', params: { gamma: 0, threshold: 1, warmup_epochs: 0 } } }), { threads });
      for (let e = 0; e < 3; e++) expect(gr.runEpoch().metrics).toEqual(plain.runEpoch().metrics);
      expect(weightOf(gr)).toBeUndefined();
      expect(pOf(gr).some((p) => p > 0)).toBe(true);
      expect(defenseState(gr).fitted_epoch).toBe(2);
      gr.tables.forEach((t, k) => expect(t.data).toEqual(plain.tables[k]!.data));
      expect(gr.exportModel().tensors).toEqual(plain.exportModel().tensors);
      await Promise.all([plain.close(), gr.close()]);
    }
  });

  it('before warmup_epochs every weight is 1 and nothing is fitted', () => {
    const tr = Trainer.create(train, resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'graphrfi', params: { warmup_epochs: 2 } }, dim: 8, batchSize: 32, seed: 1 }));
    tr.runEpoch();
    expect(weightOf(tr)).toBeUndefined();
    expect(defenseState(tr).fitted_epoch).toBe(-1);
    tr.runEpoch();
    tr.runEpoch();
    expect(weightOf(tr)).toBeDefined();
    expect(defenseState(tr).fitted_epoch).toBe(2);
  });

  it('a threshold drops the users above it (weight 0) and keeps (1 − p)^gamma for the rest', () => {
    const data = poisoned(120, 12, 60, 10, 4);
    const cfg = (threshold: number) => resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'graphrfi', params: { warmup_epochs: 2, threshold, gamma: 2 } }, dim: 8, batchSize: 32, seed: 1, lr: 1e-2 });
    // the first fit (epoch 3) sees the same parameters whatever the threshold: take the median p as threshold
    const a = Trainer.create(data, cfg(1));
    for (let e = 0; e < 3; e++) a.runEpoch();
    const pa = pOf(a);
    const thr = Array.from(pa).sort((x, y) => x - y)[pa.length >> 1]!;
    const tr = Trainer.create(data, cfg(thr));
    for (let e = 0; e < 3; e++) tr.runEpoch();
    const p = pOf(tr), w = weightOf(tr)!;
    expect(p).toEqual(pa);
    let dropped = 0;
    for (let u = 0; u < p.length; u++) {
      if (p[u]! > thr) (dropped++, expect(w[u]).toBe(0));
      else expect(w[u]).toBe(Math.fround((1 - p[u]!) ** 2));
    }
    expect(dropped).toBeGreaterThan(p.length / 3);
    expect(dropped).toBeLessThan(p.length);
  });

  it('resumes bit-identically from a checkpoint, with the weights and the detector state kept', async () => {
    const data = poisoned(120, 12, 60, 10, 4);
    for (const backbone of ['mf', 'lightgcn']) {
      const cfg = resolveTrainConfig({ backbone: { name: backbone }, defense: { name: 'graphrfi', params: { warmup_epochs: 1 } }, dim: 8, batchSize: 32, seed: 3, lr: 1e-2 });
      const a = Trainer.create(data, cfg);
      for (let e = 0; e < 3; e++) a.runEpoch();
      const ck = a.checkpoint();
      expect(ck.tensors['defense/graphrfi.weight']).toBeDefined();
      const b = Trainer.restore(data, cfg, decodeCheckpoint(encodeCheckpoint(ck)));
      const ck2 = b.checkpoint();
      expect(ck2.tensors['defense/graphrfi.weight']).toEqual(ck.tensors['defense/graphrfi.weight']);
      expect(ck2.tensors['defense/graphrfi.p_fraud']).toEqual(ck.tensors['defense/graphrfi.p_fraud']);
      expect(ck2.state).toEqual(ck.state);
      expect(b.runEpoch().metrics).toEqual(a.runEpoch().metrics);
      b.tables.forEach((t, k) => expect(t.data).toEqual(a.tables[k]!.data));
      expect(b.checkpoint().tensors['defense/graphrfi.weight']).toEqual(a.checkpoint().tensors['defense/graphrfi.weight']);
      await Promise.all([a.close(), b.close()]);
    }
  });
});
