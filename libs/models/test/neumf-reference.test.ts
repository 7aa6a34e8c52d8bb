import { describe, expect, it } from 'vitest';
import { referenceNeuMfLoss, type ReferenceMagnitude } from '@robustrec/engine';
import { Trainer, resolveTrainConfig, type TrainConfigInput } from '../src';
import { checkBatch, relErr, synthetic } from './helpers';

/**
 * NeuMF's training step (rows through the fused gather/scatter, the head's batched products, defenses
 * perturbing the [p ; p'] rows) against an independent tfjs autodiff reference of its loss
 * (libs/engine reference.ts): loss and the gradients of every table, head included, within 1e-5.
 */
const train = synthetic(60, 45, 8);
const batch = (): ReturnType<typeof checkBatch> => checkBatch(train);
const D = 8;

const TABLES = ['user_embedding', 'item_embedding', 'mlp_w1', 'mlp_b1', 'mlp_w2', 'mlp_b2', 'output_h'];

describe("NeuMF's step vs the tfjs autodiff reference (loss and every table's gradient within 1e-5)", () => {
  const cases: Array<[string, TrainConfigInput['defense'], { lambda: number; magnitude: ReferenceMagnitude } | undefined]> = [
    ['none', { name: 'none' }, undefined],
    ['apr', { name: 'apr', params: { eps: 0.3, warmup_epochs: 0 } }, { lambda: 1, magnitude: { kind: 'uniform', eps: 0.3 } }],
    ['pamacf published', { name: 'pamacf', params: { rho: 0.4, warmup_epochs: 0, lambda: 0.5 } }, { lambda: 0.5, magnitude: { kind: 'published', rho: 0.4, userLmb: 2 } }],
  ];
  for (const [name, defense, adv] of cases)
    it(`neumf + ${name}`, () => {
      const cfg = resolveTrainConfig({ backbone: { name: 'neumf' }, defense, dim: D, batchSize: 16, l2: 1e-2, seed: 5 });
      const tr = Trainer.create(train, cfg);
      const t = Object.fromEntries(tr.tables.map((x) => [x.name, x.data.slice()]));
      expect(Object.keys(t)).toEqual(TABLES);
      const b = batch();
      const ref = referenceNeuMfLoss(t.user_embedding!, t.item_embedding!, { w1: t.mlp_w1!, b1: t.mlp_b1!, w2: t.mlp_w2!, b2: t.mlp_b2!, h: t.output_h! }, train.numRows, train.numCols, D, { ...b, l2: 1e-2, adv });
      const got = tr.gradientsFor(b.users, b.pos, b.neg);
      expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      TABLES.forEach((k, q) => {
        expect(ref.grads[q]!.some((g) => g !== 0), `${k}: the reference gradient is not all zero`).toBe(true);
        expect(relErr(got.grads[k]!, ref.grads[q]!), k).toBeLessThan(1e-5);
      });
    });

  it('neumf + apr at dim 32 over 300 triples (the head in chunks of 256, 16-wide SIMD blocks)', () => {
    const D32 = 32;
    const big = synthetic(120, 90, 10, 7);
    const cfg = resolveTrainConfig({ backbone: { name: 'neumf' }, defense: { name: 'apr', params: { eps: 0.3, warmup_epochs: 0 } }, dim: D32, batchSize: 300, l2: 1e-2, seed: 9 });
    const tr = Trainer.create(big, cfg);
    const t = Object.fromEntries(tr.tables.map((x) => [x.name, x.data.slice()]));
    const n = 300;
    const users = Uint32Array.from({ length: n }, (_, q) => (q * 37) % big.numRows);
    const pos = Uint32Array.from(users, (u, q) => big.indices[big.indptr[u]! + (q % (big.indptr[u + 1]! - big.indptr[u]!))]!);
    const neg = Uint32Array.from({ length: n }, (_, q) => (q * 53 + 11) % big.numCols);
    const ref = referenceNeuMfLoss(t.user_embedding!, t.item_embedding!, { w1: t.mlp_w1!, b1: t.mlp_b1!, w2: t.mlp_w2!, b2: t.mlp_b2!, h: t.output_h! }, big.numRows, big.numCols, D32, { users, pos, neg, l2: 1e-2, adv: { lambda: 1, magnitude: { kind: 'uniform', eps: 0.3 } } });
    const got = tr.gradientsFor(users, pos, neg);
    expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    TABLES.forEach((k, q) => expect(relErr(got.grads[k]!, ref.grads[q]!), k).toBeLessThan(1e-5));
  });

  it('the check is not vacuous: a perturbation of another size is caught', () => {
    const cfg = resolveTrainConfig({ backbone: { name: 'neumf' }, defense: { name: 'apr', params: { eps: 0.3, warmup_epochs: 0 } }, dim: D, batchSize: 16, l2: 1e-2, seed: 5 });
    const tr = Trainer.create(train, cfg);
    const t = Object.fromEntries(tr.tables.map((x) => [x.name, x.data.slice()]));
    const b = batch();
    const ref = referenceNeuMfLoss(t.user_embedding!, t.item_embedding!, { w1: t.mlp_w1!, b1: t.mlp_b1!, w2: t.mlp_w2!, b2: t.mlp_b2!, h: t.output_h! }, train.numRows, train.numCols, D, { ...b, l2: 1e-2, adv: { lambda: 1, magnitude: { kind: 'uniform', eps: 0.31 } } });
    const got = tr.gradientsFor(b.users, b.pos, b.neg);
    expect(relErr(got.grads.user_embedding!, ref.grads[0]!)).toBeGreaterThan(1e-4);
  });
});
