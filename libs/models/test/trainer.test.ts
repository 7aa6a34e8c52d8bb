import { describe, expect, it } from 'vitest';
import { referenceLightGcnLoss, referenceMfLoss, normalizedAdjacency, type ReferenceMagnitude } from '@robustrec/engine';
import {
  NonFiniteLossError, Trainer, createScorer, decodeCheckpoint, encodeCheckpoint, componentSpecs, resolveTrainConfig, type TrainConfigInput,
} from '../src';
import { checkBatch, expectRejected, relErr, synthetic } from './helpers';

const train = synthetic(60, 45, 8);
const batch = (): ReturnType<typeof checkBatch> => checkBatch(train);

describe('training step vs tfjs autodiff reference (loss and gradients within 1e-5)', () => {
  const cases: Array<[string, TrainConfigInput['defense'], { lambda: number; magnitude: ReferenceMagnitude } | undefined]> = [
    ['none', { name: 'none' }, undefined],
    ['apr', { name: 'apr', params: { eps: 0.3, warmup_epochs: 0 } }, { lambda: 1, magnitude: { kind: 'uniform', eps: 0.3 } }],
    ['pamacf published', { name: 'pamacf', params: { rho: 0.4, warmup_epochs: 0, lambda: 0.5 } }, { lambda: 0.5, magnitude: { kind: 'published', rho: 0.4, userLmb: 2 } }],
    ['vat', { name: 'vat', params: { rho: 0.3, warmup_epochs: 0, lambda: 0.7 } }, { lambda: 0.7, magnitude: { kind: 'loss', rho: 0.3, lambda: 0.7 } }],
  ];
  for (const [name, defense, adv] of cases) {
    it(`mf + ${name}`, () => {
      const cfg = resolveTrainConfig({ backbone: { name: 'mf' }, defense, dim: 8, batchSize: 16, l2: 1e-2, seed: 5 });
      const tr = Trainer.create(train, cfg);
      const [U, V] = tr.tables;
      const b = batch();
      const ref = referenceMfLoss(U.data, V.data, train.numRows, train.numCols, 8, { ...b, l2: 1e-2, adv });
      const got = tr.gradientsFor(b.users, b.pos, b.neg);
      expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      expect(relErr(got.grads.user_embedding, ref.grads[0])).toBeLessThan(1e-5);
      expect(relErr(got.grads.item_embedding, ref.grads[1])).toBeLessThan(1e-5);
    });
    // d = 8: JS propagation kernel; d = 32: WebAssembly SIMD kernel over the shared arena
    for (const d of [8, 32])
      it(`lightgcn + ${name} (perturbing propagated embeddings), dim ${d}`, async () => {
        const cfg = resolveTrainConfig({ backbone: { name: 'lightgcn' }, defense, dim: d, batchSize: 16, l2: 1e-2, seed: 5 });
        const tr = Trainer.create(train, cfg, { threads: d === 32 ? 2 : 1 });
        const E = tr.tables[0].data;
        const nu = train.numRows;
        const b = batch();
        const ref = referenceLightGcnLoss(E.slice(0, nu * d), E.slice(nu * d), nu, train.numCols, d, normalizedAdjacency(train), 3, { ...b, l2: 1e-2, adv });
        const got = tr.gradientsFor(b.users, b.pos, b.neg);
        await tr.close();
        expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
        const g = got.grads.embedding;
        expect(relErr(g.subarray(0, nu * d), ref.grads[0])).toBeLessThan(1e-5);
        expect(relErr(g.subarray(nu * d), ref.grads[1])).toBeLessThan(1e-5);
      });
  }
  // SharpCF: after one epoch (window 1) the reference scores are that epoch's snapshot of every
  // training pair, read from the checkpoint; the term's gradient flows through the current score
  for (const backbone of ['mf', 'lightgcn'] as const)
    it(`${backbone} + sharpcf (trajectory term against the snapshot W epochs back)`, async () => {
      const d = 8;
      const cfg = resolveTrainConfig({ backbone: { name: backbone }, defense: { name: 'sharpcf', params: { lambda: 0.8, window_epochs: 1 } }, dim: d, batchSize: 16, l2: 1e-2, seed: 4 });
      const tr = Trainer.create(train, cfg);
      tr.runEpoch();
      const snap = tr.checkpoint().tensors['defense/sharpcf.snapshot0']!;
      const b = batch();
      const old = Float32Array.from(b.users, (u, q) => {
        let p = train.indptr[u];
        while (train.indices[p] !== b.pos[q]) p++;
        return snap[p]!;
      });
      const got = tr.gradientsFor(b.users, b.pos, b.neg);
      const nu = train.numRows;
      const ref =
        backbone === 'mf'
          ? referenceMfLoss(tr.tables[0].data, tr.tables[1].data, nu, train.numCols, d, { ...b, l2: 1e-2, trajectory: { lambda: 0.8, old } })
          : referenceLightGcnLoss(tr.tables[0].data.slice(0, nu * d), tr.tables[0].data.slice(nu * d), nu, train.numCols, d, normalizedAdjacency(train), 3, { ...b, l2: 1e-2, trajectory: { lambda: 0.8, old } });
      await tr.close();
      expect(got.def).toBeGreaterThan(0); // the term is on
      expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      const [gu, gv] = backbone === 'mf' ? [got.grads.user_embedding!, got.grads.item_embedding!] : [got.grads.embedding!.subarray(0, nu * d), got.grads.embedding!.subarray(nu * d)];
      expect(relErr(gu, ref.grads[0]!)).toBeLessThan(1e-5);
      expect(relErr(gv, ref.grads[1]!)).toBeLessThan(1e-5);
    });

  it('lightgcn + pamacf paper magnitude (mean norm over all users\' propagated rows, computed independently here)', async () => {
    const d = 8, nu = train.numRows, layers = 3;
    const cfg = resolveTrainConfig({ backbone: { name: 'lightgcn' }, defense: { name: 'pamacf', params: { rho: 0.5, warmup_epochs: 0 }, options: { magnitude: 'paper' } }, dim: d, batchSize: 16, l2: 1e-3, seed: 2 });
    const tr = Trainer.create(train, cfg);
    tr.runEpoch();
    const b = batch();
    const got = tr.gradientsFor(b.users, b.pos, b.neg);
    const E = tr.tables[0].data;
    // final = mean over k = 0..layers of Â^k E, in double, over the CSR adjacency
    const adj = normalizedAdjacency(train);
    let cur = Float64Array.from(E);
    const acc = Float64Array.from(E);
    for (let k = 0; k < layers; k++) {
      const next = new Float64Array(cur.length);
      for (let r = 0; r < adj.numRows; r++)
        for (let p = adj.indptr[r]; p < adj.indptr[r + 1]; p++) for (let c = 0; c < d; c++) next[r * d + c] += adj.values[p]! * cur[adj.indices[p]! * d + c]!;
      for (let i = 0; i < acc.length; i++) acc[i] += next[i]!;
      cur = next;
    }
    let s = 0;
    for (let u = 0; u < nu; u++) {
      let q = 0;
      for (let c = 0; c < d; c++) q += (acc[u * d + c]! / (layers + 1)) ** 2;
      s += Math.sqrt(q);
    }
    const ref = referenceLightGcnLoss(E.slice(0, nu * d), E.slice(nu * d), nu, train.numCols, d, adj, layers, { ...b, l2: 1e-3, adv: { lambda: 1, magnitude: { kind: 'paper', rho: 0.5, meanNorm: s / nu } } });
    await tr.close();
    expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    expect(relErr(got.grads.embedding!.subarray(0, nu * d), ref.grads[0]!)).toBeLessThan(1e-5);
    expect(relErr(got.grads.embedding!.subarray(nu * d), ref.grads[1]!)).toBeLessThan(1e-5);
  });

  it('mf + pamacf paper magnitude (mean norm over all users)', () => {
    const cfg = resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'pamacf', params: { rho: 0.5, warmup_epochs: 0 }, options: { magnitude: 'paper' } }, dim: 8, batchSize: 16, l2: 1e-3, seed: 2 });
    const tr = Trainer.create(train, cfg);
    tr.runEpoch();
    const got = tr.gradientsFor(batch().users, batch().pos, batch().neg);
    const [U, V] = tr.tables;
    let s = 0;
    for (let u = 0; u < train.numRows; u++) {
      let q = 0;
      for (let k = 0; k < 8; k++) q += U.data[u * 8 + k] ** 2;
      s += Math.sqrt(q);
    }
    const ref = referenceMfLoss(U.data, V.data, train.numRows, train.numCols, 8, { ...batch(), l2: 1e-3, adv: { lambda: 1, magnitude: { kind: 'paper', rho: 0.5, meanNorm: s / train.numRows } } });
    expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    expect(relErr(got.grads.user_embedding, ref.grads[0])).toBeLessThan(1e-5);
    expect(relErr(got.grads.item_embedding, ref.grads[1])).toBeLessThan(1e-5);
  });
});

describe('config', () => {
  it('fills the published defaults', () => {
    const c = resolveTrainConfig({ backbone: { name: 'mf' }, defense: { name: 'pamacf' } });
    expect(c).toMatchObject({ epochs: 30, batchSize: 2048, dim: 64, lr: 1e-3, weightDecay: 0.01, l2: 1e-4, optimizer: 'adamw', seed: 2024, initStd: 0.1 });
    expect(c.defense.params).toEqual({ rho: 0.3, lambda: 1, warmup_epochs: 5, user_lmb: 2 });
    expect(c.defense.options).toEqual({ magnitude: 'published' });
    expect(componentSpecs().backbones.map((b) => b.name)).toEqual(['mf', 'lightgcn', 'neumf']);
    expect(componentSpecs().defenses.map((d) => d.name)).toEqual(['none', 'apr', 'pamacf', 'sharpcf', 'vat', 'stdenoise', 'graphrfi']);
  });
  const bad: Array<[string, TrainConfigInput]> = [
    ['config.defense.params.eps', { backbone: { name: 'mf' }, defense: { name: 'apr', params: { eps: -0.1 } } }],
    ['config.defense.params.eps', { backbone: { name: 'mf' }, defense: { name: 'apr', params: { eps: NaN } } }],
    ['config.defense.params.epsilon', { backbone: { name: 'mf' }, defense: { name: 'apr', params: { epsilon: 0.1 } } }],
    ['config.defense.options.magnitude', { backbone: { name: 'mf' }, defense: { name: 'pamacf', options: { magnitude: 'other' } } }],
    ['config.batch_size', { backbone: { name: 'mf' }, defense: { name: 'none' }, batchSize: 0 }],
    ['config.lr', { backbone: { name: 'mf' }, defense: { name: 'none' }, lr: NaN }],
    ['config.backbone.name', { backbone: { name: 'gru4rec' }, defense: { name: 'none' } }],
    ['config.defense.name', { backbone: { name: 'mf' }, defense: { name: 'magic' } }],
    ['config.backbone.params.layers', { backbone: { name: 'lightgcn', params: { layers: 1.5 } }, defense: { name: 'none' } }],
    // an explicit 0 is a value, not "default"
    ['config.epochs', { backbone: { name: 'mf' }, defense: { name: 'none' }, epochs: 0 }],
    // the backbone's own rule (neumf.ts): its MLP tower halves dim
    ['config.dim', { backbone: { name: 'neumf' }, defense: { name: 'none' }, dim: 7 }],
  ];
  for (const [field, input] of bad)
    it(`rejects ${field} (${JSON.stringify(input).slice(0, 60)})`, () => {
      expectRejected(input, field);
    });
});

describe('training', () => {
  const small = (defense: TrainConfigInput['defense'], extra: Partial<TrainConfigInput> = {}) =>
    resolveTrainConfig({ backbone: { name: 'mf' }, defense, dim: 8, batchSize: 32, epochs: 4, seed: 7, ...extra });

  it('trains bit-identically with the optimiser update split over two threads', async () => {
    for (const [defense, extra] of [
      [{ name: 'pamacf', params: { warmup_epochs: 1 } }, {}],
      [{ name: 'apr', params: { warmup_epochs: 1 } }, { backbone: { name: 'lightgcn', params: { layers: 2 } } }],
      [{ name: 'none' }, { backbone: { name: 'lightgcn' }, dim: 32 }], // wasm propagation kernel
      [{ name: 'none' }, { backbone: { name: 'neumf' } }],
    ] as Array<[TrainConfigInput['defense'], Partial<TrainConfigInput>]>) {
      const cfg = small(defense, { ...extra, epochs: 3 });
      const one = Trainer.create(train, cfg);
      const two = Trainer.create(train, cfg, { threads: 2 });
      const l1: number[] = [];
      const l2: number[] = [];
      for (let e = 0; e < 3; e++) {
        l1.push(one.runEpoch().metrics.loss!);
        l2.push(two.runEpoch().metrics.loss!);
      }
      await two.close();
      expect(l2).toEqual(l1);
      const e1 = one.exportModel(), e2 = two.exportModel();
      for (const k of Object.keys(e1.tensors)) expect(Buffer.from(e2.tensors[k].data.buffer).equals(Buffer.from(e1.tensors[k].data.buffer))).toBe(true);
    }
  });

  it('trains tables too large for the arena whole: parameters in wasm memory, the optimiser state outside it with the JS update', async () => {
    // fullTablesUpTo 1: every table is "large"; just above the user table's whole size: mixed
    const whole = (rows: number, d: number): number => 16 * rows * d + 48 * rows + 96;
    for (const [defense, limit, update] of [
      [{ name: 'none' }, 1, 'adamw: js'],
      [{ name: 'pamacf', params: { warmup_epochs: 1 } }, 16 + whole(train.numRows, 8) + 64, 'adamw: wasm-simd (step.wat adam) for user_embedding; js for item_embedding'],
    ] as Array<[TrainConfigInput['defense'], number, string]>) {
      const cfg = small(defense, { epochs: 3 });
      const whole1 = Trainer.create(train, cfg);
      const one = Trainer.create(train, cfg, { fullTablesUpTo: limit });
      const two = Trainer.create(train, cfg, { threads: 2, fullTablesUpTo: limit });
      const lw: number[] = [], l1: number[] = [], l2: number[] = [];
      for (let e = 0; e < 3; e++) {
        lw.push(whole1.runEpoch().metrics.loss!);
        l1.push(one.runEpoch().metrics.loss!);
        l2.push(two.runEpoch().metrics.loss!);
      }
      expect(one.engineReport()['optimizer-update']).toBe(update);
      expect(one.engineReport()['training-kernels']).toBe('wasm-simd (step.wat)'); // gathers, BPR, scatter read the parameters in the arena
      await two.close();
      // split over two threads: bit-identical, as for whole tables
      expect(l2).toEqual(l1);
      const ew = whole1.exportModel(), e1 = one.exportModel(), e2 = two.exportModel();
      for (const k of Object.keys(e1.tensors)) {
        expect(Buffer.from(e2.tensors[k].data.buffer).equals(Buffer.from(e1.tensors[k].data.buffer))).toBe(true);
        // the JS update computes in doubles, the wasm one in f32: the same training within rounding
        const a = e1.tensors[k].data as Float32Array, b = ew.tensors[k].data as Float32Array;
        if (b.some((x) => x !== 0)) expect(relErr(a, b)).toBeLessThan(1e-4);
        else expect(a).toEqual(b); // perturbation_magnitude without a defense
      }
      for (let e = 0; e < 3; e++) expect(Math.abs(l1[e] - lw[e]) / lw[e]).toBeLessThan(1e-5);
    }
  });

  it('resumes bit-identically from a checkpoint (through the binary encoding)', () => {
    for (const [defense, extra] of [
      [{ name: 'pamacf', params: { warmup_epochs: 1 } }, {}],
      [{ name: 'sharpcf', params: { window_epochs: 1 } }, { optimizer: 'sparse_adam' as const }],
      [{ name: 'apr', params: { warmup_epochs: 1 } }, { backbone: { name: 'lightgcn', params: { layers: 2 } } }],
    ] as Array<[TrainConfigInput['defense'], Partial<TrainConfigInput>]>) {
      const cfg = small(defense, extra);
      const a = Trainer.create(train, cfg);
      for (let e = 0; e < 4; e++) a.runEpoch();
      const b = Trainer.create(train, cfg);
      b.runEpoch();
      b.runEpoch();
      const c = Trainer.restore(train, cfg, decodeCheckpoint(encodeCheckpoint(b.checkpoint())));
      expect(c.epoch).toBe(2);
      c.runEpoch();
      c.runEpoch();
      const ea = a.exportModel(), ec = c.exportModel();
      for (const k of Object.keys(ea.tensors)) expect(Buffer.from(ec.tensors[k].data.buffer).equals(Buffer.from(ea.tensors[k].data.buffer))).toBe(true);
    }
  });

  it('is deterministic given the seed and differs across seeds', () => {
    const run = (seed: number) => {
      const t = Trainer.create(train, small({ name: 'vat', params: { warmup_epochs: 0 } }, { seed, epochs: 2 }));
      t.runEpoch();
      return t.exportModel().tensors.user_embedding.data;
    };
    expect(Array.from(run(3))).toEqual(Array.from(run(3)));
    expect(Array.from(run(3))).not.toEqual(Array.from(run(4)));
  });

  it('learns: MF ranks held-out in-cluster items above others, loss decreases', () => {
    const t = Trainer.create(train, small({ name: 'none' }, { epochs: 30, lr: 1e-2 }));
    const first = t.runEpoch().metrics.bpr_loss;
    let last = first;
    for (let e = 1; e < 30; e++) last = t.runEpoch().metrics.bpr_loss;
    expect(last).toBeLessThan(first * 0.8);
    const m = t.exportModel();
    const s = createScorer(m);
    const out = new Float32Array(train.numCols);
    let inC = 0, outC = 0, nIn = 0, nOut = 0;
    for (let u = 0; u < 60; u++) {
      s.scoreUsers(Uint32Array.of(u), out);
      for (let i = 0; i < train.numCols; i++) if (i % 4 === u % 4) { inC += out[i]; nIn++; } else { outC += out[i]; nOut++; }
    }
    expect(inC / nIn).toBeGreaterThan(outC / nOut);
    // scorer = dot product of the exported embeddings
    const U = m.tensors.user_embedding.data, V = m.tensors.item_embedding.data;
    s.scoreUsers(Uint32Array.of(5), out);
    let dot = 0;
    for (let k = 0; k < 8; k++) dot += U[5 * 8 + k] * V[7 * 8 + k];
    expect(out[7]).toBeCloseTo(dot, 5);
  });

  it('records the per-user perturbation magnitudes of the last epoch', () => {
    const t = Trainer.create(train, small({ name: 'pamacf', params: { warmup_epochs: 0, rho: 0.3 } }, { epochs: 1 }));
    t.runEpoch();
    const mag = t.exportModel().tensors.perturbation_magnitude;
    expect(mag.shape).toEqual([60]);
    const nz = Array.from(mag.data).filter((x) => x > 0);
    expect(nz.length).toBeGreaterThan(40);
    for (const x of nz) expect(x).toBeLessThan(0.3 * 2);
    const none = Trainer.create(train, small({ name: 'none' }, { epochs: 1 }));
    none.runEpoch();
    expect(none.exportModel().tensors.perturbation_magnitude.data.every((x) => x === 0)).toBe(true);
  });

  it('stops with NonFiniteLossError on a NaN and refuses to continue', () => {
    const t = Trainer.create(train, small({ name: 'apr', params: { warmup_epochs: 0 } }));
    t.tables[0].data.fill(NaN, 0, 8 * 60);
    const before = t.tables[1].data.slice();
    expect(() => t.runEpoch()).toThrow(NonFiniteLossError);
    expect(Array.from(t.tables[1].data)).toEqual(Array.from(before)); // nothing was applied
    expect(() => t.runEpoch()).toThrow(/failed earlier/);
  });

  it('refuses to continue an epoch that a callback aborted', () => {
    const t = Trainer.create(train, small({ name: 'none', params: {} }));
    expect(() => t.runEpoch((step) => {
      if (step === 2) throw new Error('cancelled');
    })).toThrow('cancelled');
    expect(t.epoch).toBe(0);
    expect(() => t.runEpoch()).toThrow(/aborted mid-way/);
  });

  it('neumf trains through its batched head and its scorer runs the MLP', () => {
    const cfg = resolveTrainConfig({ backbone: { name: 'neumf' }, defense: { name: 'apr', params: { warmup_epochs: 1 } }, dim: 8, batchSize: 64, epochs: 3, seed: 1, lr: 1e-2 });
    const t = Trainer.create(train, cfg);
    const l0 = t.runEpoch().metrics.bpr_loss;
    t.runEpoch();
    const l2 = t.runEpoch().metrics;
    expect(l2.bpr_loss).toBeLessThan(l0);
    expect(l2.adv_loss).toBeGreaterThan(0);
    const s = createScorer(t.exportModel());
    const out = new Float32Array(2 * train.numCols);
    s.scoreUsers(Uint32Array.of(0, 1), out);
    expect(out.every(Number.isFinite)).toBe(true);
    expect(new Set(out).size).toBeGreaterThan(train.numCols);
  });

  it('rejects a checkpoint of another configuration', () => {
    const a = Trainer.create(train, small({ name: 'none' }));
    expect(() => Trainer.restore(train, small({ name: 'apr' }), a.checkpoint())).toThrow(/checkpoint is for/);
    const buf = encodeCheckpoint(a.checkpoint());
    expect(() => decodeCheckpoint(buf.subarray(0, buf.length - 4))).toThrow(/corrupt/);
  });
});

describe('engine report (model provenance)', () => {
  const run = async (input: Omit<TrainConfigInput, 'defense'>): Promise<Record<string, string>> => {
    const t = Trainer.create(train, resolveTrainConfig({ defense: { name: 'none' }, batchSize: 32, epochs: 1, seed: 3, ...input }));
    t.runEpoch();
    const r = t.engineReport();
    await t.close();
    return r;
  };

  it('names the kernels that ran: wasm when the rows fit its lanes, JS otherwise, per table and per backbone part', async () => {
    expect(await run({ backbone: { name: 'mf' }, dim: 8 })).toMatchObject({
      'training-engine': 'robustrec fused kernels, 1 thread(s)',
      'training-kernels': 'wasm-simd (step.wat)',
      'optimizer-update': 'adamw: wasm-simd (step.wat adam)',
      tfjs: expect.stringMatching(/^not used by training/),
    });
    // a width that is not a multiple of 4 runs every row job in JS: the report says so
    expect(await run({ backbone: { name: 'mf' }, dim: 6 })).toMatchObject({ 'training-kernels': 'js (Float32Array)', 'optimizer-update': 'adamw: js' });
    expect((await run({ backbone: { name: 'lightgcn', params: { layers: 2 } }, dim: 8 })).propagation).toBe('js (Float32Array), 1 thread(s)');
    expect((await run({ backbone: { name: 'lightgcn', params: { layers: 2 } }, dim: 32 })).propagation).toBe('wasm-simd (spmm.wat), 1 thread(s)');
    const neumf = await run({ backbone: { name: 'neumf' }, dim: 8 });
    expect(neumf['mlp-head']).toMatch(/^wasm-simd \(gemm\.wat\) \(batched in chunks of 256 triples; hand-written backward/);
    expect((await run({ backbone: { name: 'neumf' }, dim: 6 }))['mlp-head']).toMatch(/^js \(gemmJs/);
    expect(neumf.tfjs).toMatch(/^not used by training/);
    expect(neumf['optimizer-update']).toMatch(/^adamw: wasm-simd \(step\.wat adam\) for user_embedding, item_embedding; js for mlp_w1, /);
  });
});
