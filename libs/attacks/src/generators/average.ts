import { fillerProfiles, itemPopularity, lengthSpread, weightedDraw } from '../common';
import type { AttackGenerator } from '../types';

/**
 * Average attack, implicit-feedback analogue: the explicit attack gives fillers their mean
 * rating; with binary data the item's "mean" is its interaction frequency, so fillers are
 * drawn proportionally to training popularity (plus `smoothing`, so unseen items keep a chance).
 */
export const average: AttackGenerator = {
  spec: {
    name: 'average',
    description: 'Targets plus fillers drawn proportionally to item popularity',
    params: { smoothing: { default: 1, min: 0, description: 'added to every item\'s popularity (unseen items keep a chance)' }, length_spread: lengthSpread },
    options: {},
  },
  async generate(input) {
    const { rng } = input;
    const pop = itemPopularity(input.train);
    const smoothing = input.params.smoothing!;
    const draw = weightedDraw(rng, Float64Array.from(pop, (c) => c + smoothing));
    return fillerProfiles(input, draw);
  },
};
