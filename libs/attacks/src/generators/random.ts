import { fillerProfiles, lengthSpread, uniformDraw } from '../common';
import type { AttackGenerator } from '../types';

/** Random attack: every target + fillers drawn uniformly over all items. */
export const random: AttackGenerator = {
  spec: {
    name: 'random',
    description: 'Targets plus uniformly random filler items',
    params: { length_spread: lengthSpread },
    options: {},
  },
  async generate(input) {
    const { numItems, rng } = input;
    const draw = uniformDraw(rng, numItems);
    return fillerProfiles(input, draw);
  },
};
