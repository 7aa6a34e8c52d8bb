import { describe, expect, it } from 'vitest';
import { Rng } from '@robustrec/core';
import { isDotProductScorer } from '@robustrec/scoring';
import { createScorer } from '@robustrec/models';
import type { evaluator } from '@robustrec/contracts';
import { scorerFor } from '../src/models';

type Tensors = Record<string, { shape: number[]; data: Float32Array }>;

const rng = new Rng(5);
const rand = (shape: number[]): { shape: number[]; data: Float32Array } => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.5) });
const header = (backbone: string, tensors: Tensors): evaluator.Model => ({
  id: 'model_test', name: 'm', version: 1, backbone, defense: 'none', datasetId: '', jobId: '', numUsers: 6, numItems: 9,
  tensors: Object.entries(tensors).map(([name, t]) => ({ name, shape: t.shape })), metrics: [], provenance: undefined, sizeBytes: 0,
});
const scores = (s: { numItems: number; scoreUsers(u: Uint32Array, o: Float32Array): void }, users: number[]): Float32Array => {
  const out = new Float32Array(users.length * s.numItems);
  s.scoreUsers(Uint32Array.from(users), out);
  return out;
};

describe('scorerFor', () => {
  it('takes the SIMD dot path for dot-product models, with the same scores as the models library', () => {
    const t: Tensors = { user_embedding: rand([6, 4]), item_embedding: rand([9, 4]), perturbation_magnitude: rand([6]) };
    const s = scorerFor({ header: header('mf', t), tensors: t });
    expect(isDotProductScorer(s)).toBe(true);
    const ref = scores(createScorer({ backbone: 'mf', tensors: t }), [0, 3, 5]);
    const got = scores(s, [0, 3, 5]);
    for (let j = 0; j < ref.length; j++) expect(got[j]).toBeCloseTo(ref[j]!, 5);
  });

  it('scores NeuMF by its MLP even though it also holds equal-width user/item embeddings', () => {
    // NeuMF layout (libs/models/src/backbones/neumf.ts): rows of width w = 2d (GMF half, MLP half)
    const w = 8, d = 4;
    const t: Tensors = {
      user_embedding: rand([6, w]), item_embedding: rand([9, w]),
      mlp_w1: rand([w, d]), mlp_b1: rand([d]), mlp_w2: rand([d, d >> 1]), mlp_b2: rand([d >> 1]), output_h: rand([d + (d >> 1)]),
    };
    const s = scorerFor({ header: header('neumf', t), tensors: t });
    expect(isDotProductScorer(s)).toBe(false);
    const ref = scores(createScorer({ backbone: 'neumf', tensors: t }), [1, 4]);
    expect(Array.from(scores(s, [1, 4]))).toEqual(Array.from(ref));
    // and it is not the plain dot product of the embeddings
    const dot = scores(createScorer({ backbone: 'mf', tensors: { user_embedding: t.user_embedding!, item_embedding: t.item_embedding! } }), [1, 4]);
    expect(Array.from(ref).some((v, j) => Math.abs(v - dot[j]!) > 1e-3)).toBe(true);
  });

  it('is FAILED_PRECONDITION with a clear message for an unscorable model', () => {
    const t: Tensors = { user_embedding: rand([6, 4]), mlp_w1: rand([4, 2]) };
    expect(() => scorerFor({ header: header('neumf', t), tensors: t })).toThrow(expect.objectContaining({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/neumf.*lacks tensor/) }));
  });
});
