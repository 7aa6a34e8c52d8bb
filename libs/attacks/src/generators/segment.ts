import { checkNumber } from '@robustrec/core';
import { fillerProfiles, itemPopularity, lengthSpread, topK, uniformDraw } from '../common';
import type { AttackGenerator } from '../types';

/**
 * Segment attack: aims the targets at the segment of users who like the items the targets'
 * existing audience likes. Segment items = the `segment_size` items most co-interacted with
 * the targets by genuine users (falling back to the most popular items when the targets have
 * no audience); each profile holds all segment items that fit, then random fillers.
 */
export const segment: AttackGenerator = {
  spec: {
    name: 'segment',
    description: 'Targets plus the items most co-interacted with the targets, then random fillers',
    params: { segment_size: { default: 10, min: 1, integer: true, description: 'segment items: those most co-interacted with the targets' }, length_spread: lengthSpread },
    options: {},
  },
  async generate(input) {
    const { train, targets, numItems, rng } = input;
    const size = checkNumber('generator.params.segment_size', input.params.segment_size!, 1, numItems, true);
    const co = new Float64Array(numItems);
    const targetSet = new Set(targets);
    for (let u = 0; u < train.numRows; u++) {
      const a = train.indptr[u]!;
      const b = train.indptr[u + 1]!;
      let hits = 0;
      for (let p = a; p < b; p++) if (targetSet.has(train.indices[p]!)) hits++;
      if (hits) for (let p = a; p < b; p++) co[train.indices[p]!]! += hits;
    }
    // tie-break by popularity so that targets without an audience still get a segment
    const pop = itemPopularity(train);
    for (let i = 0; i < numItems; i++) co[i] = co[i]! * 1e6 + pop[i]!;
    const seg = topK(co, size, targetSet);
    const draw = uniformDraw(rng, numItems);
    return fillerProfiles(input, draw, (s, len) => {
      for (const i of seg) if (s.size < len) s.add(i);
    });
  },
};
