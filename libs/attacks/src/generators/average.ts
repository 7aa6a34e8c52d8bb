import { fakeName, fillTo, itemPopularity, profileLengths, toProfile, weightedDraw } from '../common';
import type { AttackGenerator } from '../types';

/**
 * Average attack, implicit-feedback analogue: the explicit attack gives fillers their mean
 * rating; with binary data the item's "mean" is its interaction frequency, so fillers are
 * drawn proportionally to training popularity (plus `smoothing`, so unseen items keep a chance).
 */
export const average: AttackGenerator = {
  describe: () => ({
    name: 'average',
    description: 'Targets plus fillers drawn proportionally to item popularity',
    defaultParams: { smoothing: 1, length_spread: 0.3 },
    defaultOptions: {},
  }),
  async generate(input) {
    const { targets, rng } = input;
    const pop = itemPopularity(input.train);
    const smoothing = input.params.smoothing!;
    const draw = weightedDraw(rng, Float64Array.from(pop, (c) => c + smoothing));
    const profiles = profileLengths(input, targets.length + 1).map((len, f) => {
      const s = new Set(targets);
      fillTo(s, len, draw);
      return toProfile(fakeName(f), s);
    });
    await input.onProgress({ phase: 'profiles', done: profiles.length, total: profiles.length });
    return { profiles };
  },
};
