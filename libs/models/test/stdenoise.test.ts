import { describe, expect, it } from 'vitest';
import { Rng, RrError, csrFromPairs, type Csr } from '@robustrec/core';
import { normalizedAdjacency, referenceLightGcnLoss, referenceMfLoss } from '@robustrec/engine';
import { Sampler, Trainer, componentSpecs, decodeCheckpoint, encodeCheckpoint, resolveTrainConfig, type Batch, type TrainConfigInput } from '../src';
import { expectRejected, relErr, synthetic } from './helpers';

const train = synthetic(60, 45, 8);

/** Final rows mean_{k=0..K} Â^k E of LightGCN over the full graph, in double (independent of the engine). */
function lightgcnFinal(r: Csr, E: Float32Array, d: number, layers: number): Float64Array {
  const adj = normalizedAdjacency(r);
  let cur = Float64Array.from(E);
  const acc = Float64Array.from(E);
  for (let k = 0; k < layers; k++) {
    const next = new Float64Array(cur.length);
    for (let row = 0; row < adj.numRows; row++)
      for (let p = adj.indptr[row]!; p < adj.indptr[row + 1]!; p++) for (let c = 0; c < d; c++) next[row * d + c]! += adj.values[p]! * cur[adj.indices[p]! * d + c]!;
    for (let i = 0; i < acc.length; i++) acc[i]! += next[i]!;
    cur = next;
  }
  return acc.map((x) => x / (layers + 1));
}

/** The spec's mask computed here: keep (u,i) iff (cos(e_u, e_i) + 1)/2 ≥ threshold. */
function maskOf(r: Csr, users: ArrayLike<number>, items: ArrayLike<number>, d: number, threshold: number): Uint8Array {
  const keep = new Uint8Array(r.indptr[r.numRows]!);
  for (let u = 0; u < r.numRows; u++)
    for (let p = r.indptr[u]!; p < r.indptr[u + 1]!; p++) {
      const i = r.indices[p]!;
      let dot = 0, nu = 0, ni = 0;
      for (let c = 0; c < d; c++) {
        dot += users[u * d + c]! * items[i * d + c]!;
        nu += users[u * d + c]! ** 2;
        ni += items[i * d + c]! ** 2;
      }
      keep[p] = (dot / Math.sqrt(nu * ni) + 1) / 2 >= threshold ? 1 : 0;
    }
  return keep;
}

/** The kept edges as a training matrix of their own. */
function kept(r: Csr, keep: Uint8Array): Csr {
  const rows: number[] = [], cols: number[] = [];
  for (let u = 0; u < r.numRows; u++) for (let p = r.indptr[u]!; p < r.indptr[u + 1]!; p++) if (keep[p]) (rows.push(u), cols.push(r.indices[p]!));
  return csrFromPairs(r.numRows, r.numCols, rows, cols);
}

/** A batch over kept edges with repeated users and items, including users that lost edges. */
function keptBatch(r: Csr, keep: Uint8Array) {
  const users: number[] = [], pos: number[] = [], neg: number[] = [];
  const lost = new Set<number>();
  for (let u = 0; u < r.numRows; u++) for (let p = r.indptr[u]!; p < r.indptr[u + 1]!; p++) if (!keep[p]) lost.add(u);
  const pick = [...[...lost].slice(0, 3), 3, 10, 17];
  for (const [q, u] of [...pick, ...pick.slice(0, 3)].entries()) {
    const ps: number[] = [];
    for (let p = r.indptr[u]!; p < r.indptr[u + 1]!; p++) if (keep[p]) ps.push(r.indices[p]!);
    if (ps.length === 0) continue;
    users.push(u);
    pos.push(ps[q % ps.length]!);
    let j = (u * 7 + q) % r.numCols;
    while (Array.from(r.indices.subarray(r.indptr[u]!, r.indptr[u + 1]!)).includes(j)) j = (j + 1) % r.numCols;
    neg.push(j);
  }
  return { users: Uint32Array.from(users), pos: Uint32Array.from(pos), neg: Uint32Array.from(neg) };
}

const keepOf = (tr: Trainer): Float32Array | undefined => tr.checkpoint().tensors['defense/stdenoise.keep'];

describe('stdenoise: parameters', () => {
  it('is registered with its documented defaults', () => {
    const spec = componentSpecs().defenses.find((d) => d.name === 'stdenoise')!;
    expect(spec).toBeDefined();
    expect(Object.keys(spec.params)).toEqual(['threshold', 'warmup_epochs']);
    const c = resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'stdenoise' } });
    expect(c.defense.params).toEqual({ threshold: 0.5, warmup_epochs: 5 });
  });
  for (const [field, params] of [
    ['config.defense.params.threshold', { threshold: 1.5 }],
    ['config.defense.params.threshold', { threshold: -0.1 }],
    ['config.defense.params.threshold', { threshold: NaN }],
    ['config.defense.params.warmup_epochs', { warmup_epochs: 1.5 }],
    ['config.defense.params.warmup_epochs', { warmup_epochs: -1 }],
    ['config.defense.params.drop_ratio', { drop_ratio: 0.1 }],
  ] as Array<[string, Record<string, number>]>)
    it(`rejects ${JSON.stringify(params)} naming ${field}`, () => {
      expectRejected({ backbone: { name: 'lightgcn' }, defense: { name: 'stdenoise', params } }, field);
    });
});

describe('stdenoise: training step vs tfjs autodiff reference on the denoised graph (loss and gradients within 1e-5)', () => {
  const threshold = 0.6;
  const cfgOf = (backbone: string, d: number) =>
    resolveTrainConfig({ backbone: { name: backbone }, defense: { name: 'stdenoise', params: { threshold, warmup_epochs: 1 } }, dim: d, batchSize: 16, l2: 1e-2, lr: 1e-2, seed: 5 });

  it('mf: the mask is the spec\'s, and the step is BPR + L2 over kept edges', () => {
    const tr = Trainer.create(train, cfgOf('mf', 8));
    for (let e = 0; e < 3; e++) tr.runEpoch();
    const [U, V] = tr.tables;
    const mask = maskOf(train, U!.data, V!.data, 8, threshold);
    const b = keptBatch(train, mask);
    const got = tr.gradientsFor(b.users, b.pos, b.neg);
    const keep = keepOf(tr)!;
    expect(keep).toBeDefined();
    expect(Array.from(keep)).toEqual(Array.from(mask));
    const dropped = mask.length - mask.reduce((s, x) => s + x, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(mask.length);
    expect(got.def).toBe(0);
    const ref = referenceMfLoss(U!.data, V!.data, train.numRows, train.numCols, 8, { ...b, l2: 1e-2 });
    expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    expect(relErr(got.grads.user_embedding!, ref.grads[0]!)).toBeLessThan(1e-5);
    expect(relErr(got.grads.item_embedding!, ref.grads[1]!)).toBeLessThan(1e-5);
  });

  // d = 8: JS propagation kernel; d = 32 with 2 threads: WebAssembly SIMD kernel and the helper
  // thread reading the renormalised adjacency in shared memory
  for (const d of [8, 32])
    it(`lightgcn, dim ${d}: mask from full-graph final rows, propagation over the renormalised kept edges`, async () => {
      const tr = Trainer.create(train, cfgOf('lightgcn', d), { threads: d === 32 ? 2 : 1 });
      for (let e = 0; e < 3; e++) tr.runEpoch();
      const E = tr.tables[0]!.data;
      const nu = train.numRows;
      const fin = lightgcnFinal(train, E, d, 3);
      const mask = maskOf(train, fin.subarray(0, nu * d), fin.subarray(nu * d), d, threshold);
      const b = keptBatch(train, mask);
      const got = tr.gradientsFor(b.users, b.pos, b.neg);
      const keep = keepOf(tr)!;
      await tr.close();
      expect(keep).toBeDefined();
      expect(Array.from(keep)).toEqual(Array.from(mask));
      const dropped = mask.length - mask.reduce((s, x) => s + x, 0);
      expect(dropped).toBeGreaterThan(0);
      const ref = referenceLightGcnLoss(E.slice(0, nu * d), E.slice(nu * d), nu, train.numCols, d, normalizedAdjacency(kept(train, mask)), 3, { ...b, l2: 1e-2 });
      expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      const g = got.grads.embedding!;
      expect(relErr(g.subarray(0, nu * d), ref.grads[0]!)).toBeLessThan(1e-5);
      expect(relErr(g.subarray(nu * d), ref.grads[1]!)).toBeLessThan(1e-5);
      // and it is not the full graph's: the denoising changes the gradient
      const full = referenceLightGcnLoss(E.slice(0, nu * d), E.slice(nu * d), nu, train.numCols, d, normalizedAdjacency(train), 3, { ...b, l2: 1e-2 });
      expect(relErr(g.subarray(nu * d), full.grads[1]!)).toBeGreaterThan(1e-3);
    });
});

describe('stdenoise: sampling over kept edges', () => {
  const draw = (s: Sampler, n: number): Batch => {
    const b: Batch = { users: new Uint32Array(n), pos: new Uint32Array(n), neg: new Uint32Array(n), posIdx: new Uint32Array(n), n: 0 };
    s.fill(b, n);
    return b;
  };
  it('draws positives among kept edges only, negatives outside every training item', () => {
    const nnz = train.indptr[train.numRows]!;
    const keep = new Uint8Array(nnz);
    const rng = new Rng(9);
    for (let p = 0; p < nnz; p++) keep[p] = rng.next() < 0.6 ? 1 : 0;
    for (let p = train.indptr[5]!; p < train.indptr[6]!; p++) keep[p] = 0; // user 5 loses every edge
    const s = new Sampler(train, new Rng(1));
    s.setEdgeMask(keep);
    const b = draw(s, 4000);
    const seen = new Set<number>();
    for (let q = 0; q < b.n; q++) {
      const u = b.users[q]!, p = b.posIdx[q]!;
      expect(keep[p]).toBe(1);
      expect(p >= train.indptr[u]! && p < train.indptr[u + 1]!).toBe(true);
      expect(train.indices[p]).toBe(b.pos[q]);
      expect(Array.from(train.indices.subarray(train.indptr[u]!, train.indptr[u + 1]!))).not.toContain(b.neg[q]);
      seen.add(p);
    }
    expect(b.users).not.toContain(5);
    expect(seen.size).toBe(keep.reduce((a, x) => a + x, 0)); // every kept edge is reachable
  });
  it('an all-kept mask, or lifting the mask, draws exactly what an unmasked sampler draws', () => {
    const a = new Sampler(train, new Rng(2));
    const b = new Sampler(train, new Rng(2));
    b.setEdgeMask(new Uint8Array(train.indptr[train.numRows]!).fill(1));
    expect(draw(b, 500)).toEqual(draw(a, 500));
    expect(() => b.setEdgeMask(new Uint8Array(train.indptr[train.numRows]!))).toThrow(/drops every training interaction/);
    const c = new Sampler(train, new Rng(3));
    const e = new Sampler(train, new Rng(3));
    e.setEdgeMask(Uint8Array.from({ length: train.indptr[train.numRows]! }, (_, p) => p % 2));
    e.setEdgeMask(undefined);
    expect(draw(e, 500)).toEqual(draw(c, 500));
  });
});

describe('stdenoise: training', () => {
  it('threshold 0 drops nothing and trains bit-for-bit as the plain backbone (mf, lightgcn)', async () => {
    for (const [backbone, d, threads] of [['mf', 8, 1], ['lightgcn', 8, 1], ['lightgcn', 32, 2]] as const) {
      const base: TrainConfigInput = { backbone: { name: backbone }, defense: { name: 'none' }, dim: d, batchSize: 32, epochs: 3, seed: 11, lr: 1e-2 };
      const plain = Trainer.create(train, resolveTrainConfig(base), { threads });
      const sd = Trainer.create(train, resolveTrainConfig({ ...base, defense: { name: 'stdenoise', params: { threshold: 0, warmup_epochs: 0 } } }), { threads });
      for (let e = 0; e < 3; e++) expect(sd.runEpoch().metrics).toEqual(plain.runEpoch().metrics);
      expect(keepOf(sd)).toBeUndefined();
      sd.tables.forEach((t, k) => expect(t.data).toEqual(plain.tables[k]!.data));
      expect(sd.exportModel().tensors).toEqual(plain.exportModel().tensors);
      await Promise.all([plain.close(), sd.close()]);
    }
  });

  it('drops a larger share of injected fake users\' random edges than of genuine ones, and stays finite', async () => {
    const nu = 200, nf = 20, ni = 80;
    const rng = new Rng(3);
    const rows: number[] = [], cols: number[] = [];
    for (let u = 0; u < nu; u++)
      for (let k = 0; k < 12; k++) {
        let i = rng.int(ni);
        if (rng.next() < 0.8) i = (Math.floor(i / 4) * 4 + (u % 4)) % ni; // genuine: mostly their cluster's items
        rows.push(u), cols.push(i);
      }
    for (let f = 0; f < nf; f++) for (let k = 0; k < 12; k++) rows.push(nu + f), cols.push(rng.int(ni)); // fake: random items
    const poisoned = csrFromPairs(nu + nf, ni, rows, cols);
    const genuineEdges = poisoned.indptr[nu]!;
    const fakeEdges = poisoned.indptr[nu + nf]! - genuineEdges;
    for (const backbone of ['mf', 'lightgcn']) {
      const cfg = resolveTrainConfig({ backbone: { name: backbone }, defense: { name: 'stdenoise', params: { threshold: 0.5, warmup_epochs: 3 } }, dim: 16, batchSize: 128, epochs: 10, seed: 1, lr: 1e-2 });
      const tr = Trainer.create(poisoned, cfg);
      for (let e = 0; e < 10; e++) {
        const m = tr.runEpoch().metrics;
        expect(Number.isFinite(m.loss)).toBe(true);
        expect(m.adv_loss).toBe(0);
      }
      for (const t of tr.tables) expect(t.data.every(Number.isFinite)).toBe(true);
      const keep = keepOf(tr)!;
      let g = 0, f = 0;
      for (let p = 0; p < genuineEdges; p++) g += 1 - keep[p]!;
      for (let p = genuineEdges; p < keep.length; p++) f += 1 - keep[p]!;
      const fakeShare = f / fakeEdges, genuineShare = g / genuineEdges;
      expect(genuineShare).toBeGreaterThan(0);
      expect(fakeShare).toBeGreaterThan(1.5 * genuineShare);
      expect((tr.checkpoint().state as { defense: { dropped: number } }).defense.dropped).toBe(f + g);
      await tr.close();
    }
  });

  it('resumes bit-identically from a checkpoint taken with edges dropped (lightgcn scores over the same denoised graph)', async () => {
    const cfg = resolveTrainConfig({ backbone: { name: 'lightgcn', params: { layers: 2 } }, defense: { name: 'stdenoise', params: { threshold: 0.6, warmup_epochs: 1 } }, dim: 8, batchSize: 32, epochs: 4, seed: 3, lr: 1e-2 });
    const a = Trainer.create(train, cfg);
    for (let e = 0; e < 3; e++) a.runEpoch();
    expect(keepOf(a)).toBeDefined();
    const b = Trainer.restore(train, cfg, decodeCheckpoint(encodeCheckpoint(a.checkpoint())));
    expect(b.exportModel().tensors).toEqual(a.exportModel().tensors);
    expect(b.runEpoch().metrics).toEqual(a.runEpoch().metrics);
    b.tables.forEach((t, k) => expect(t.data).toEqual(a.tables[k]!.data));
    expect(b.exportModel().tensors).toEqual(a.exportModel().tensors);
    await Promise.all([a.close(), b.close()]);
  });

  it('neumf (no graph: sampling only) trains finitely with edges dropped', async () => {
    const cfg = resolveTrainConfig({ backbone: { name: 'neumf' }, defense: { name: 'stdenoise', params: { threshold: 0.55, warmup_epochs: 1 } }, dim: 8, batchSize: 32, epochs: 3, seed: 2, lr: 1e-2 });
    const tr = Trainer.create(train, cfg);
    for (let e = 0; e < 3; e++) expect(Number.isFinite(tr.runEpoch().metrics.loss)).toBe(true);
    const keep = keepOf(tr)!;
    expect(keep.some((x) => x === 0)).toBe(true);
    for (const t of tr.tables) expect(t.data.every(Number.isFinite)).toBe(true);
    await tr.close();
  });

  it('a threshold that drops every edge stops with FAILED_PRECONDITION naming it', () => {
    const cfg = resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'stdenoise', params: { threshold: 1, warmup_epochs: 0 } }, dim: 8, batchSize: 32, seed: 1 });
    const tr = Trainer.create(train, cfg);
    try {
      tr.runEpoch();
      expect.fail('trained');
    } catch (e) {
      expect((e as RrError).code).toBe('FAILED_PRECONDITION');
      expect((e as RrError).field).toBe('config.defense.params.threshold');
    }
  });
});
