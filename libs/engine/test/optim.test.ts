import { describe, expect, it } from 'vitest';
import { Rng } from '@robustrec/core';
import { Adam, ParamTable, denseAdamWStep } from '../src';

describe('lazy-exact AdamW', () => {
  // gradient scales of Gowalla rows (items ~1e-5) make eps matter inside the skipped steps
  for (const scale of [1e-2, 1e-5])
  it(`matches a truly dense AdamW after sparse, irregular updates (gradients ~${scale})`, () => {
    const rows = 40, w = 6, steps = 700;
    const o = { lr: 1e-2, weightDecay: 0.01 };
    const rng = new Rng(9);
    const lazy = new ParamTable('t', rows, w);
    for (let i = 0; i < lazy.data.length; i++) lazy.data[i] = rng.normal() * 0.1;
    const dense = { data: lazy.data.slice(), m: new Float32Array(rows * w), v: new Float32Array(rows * w), g: new Float32Array(rows * w) };
    const opt = new Adam('adamw', o);
    for (let s = 1; s <= steps; s++) {
      dense.g.fill(0);
      // row r is touched with probability ~1/(r+1): some every step, some a few times in 700
      for (let r = 0; r < rows; r++)
        if (rng.next() < 1 / (r + 1) || (r === rows - 1 && s === 600)) {
          const off = lazy.slotOf(r);
          for (let k = 0; k < w; k++) {
            const g = rng.normal() * scale;
            lazy.grad[off + k] = g;
            dense.g[r * w + k] = g;
          }
        }
      opt.begin();
      opt.update(lazy);
      denseAdamWStep(dense.data, dense.g, dense.m, dense.v, s, o);
    }
    opt.catchUpAll(lazy);
    let maxRel = 0;
    for (let i = 0; i < lazy.data.length; i++) maxRel = Math.max(maxRel, Math.abs(lazy.data[i] - dense.data[i]) / Math.max(Math.abs(dense.data[i]), 1e-3));
    // the dense reference rounds m, v, θ to float32 at every one of its 700 steps; the lazy one
    // computes the skipped steps in double: they agree to accumulated float32 rounding
    expect(maxRel).toBeLessThan(1e-4);
    for (let i = 0; i < lazy.m.length; i++) expect(Math.abs(lazy.m[i] - dense.m[i])).toBeLessThanOrEqual(1e-6 * scale + 1e-3 * Math.abs(dense.m[i]));
  });

  it('sparse_adam leaves untouched rows as they are', () => {
    const t = new ParamTable('t', 3, 2);
    t.data.set([1, 1, 2, 2, 3, 3]);
    const opt = new Adam('sparse_adam', { lr: 0.1, weightDecay: 0.01 });
    const off = t.slotOf(1);
    t.grad[off] = 1;
    t.grad[off + 1] = -1;
    opt.begin();
    opt.update(t);
    expect(Array.from(t.data.slice(0, 2))).toEqual([1, 1]);
    expect(Array.from(t.data.slice(4))).toEqual([3, 3]);
    // first Adam step moves by ≈ lr·sign(g) (after decoupled decay)
    expect(t.data[2]).toBeCloseTo(2 * (1 - 0.001) - 0.1, 5);
    expect(t.data[3]).toBeCloseTo(2 * (1 - 0.001) + 0.1, 5);
  });
});
