import { fillerProfiles, uniformDraw } from '../common';
import type { AttackGenerator } from '../types';

/** Random attack: every target + fillers drawn uniformly over all items. */
export const random: AttackGenerator = {
  describe: () => ({
    name: 'random',
    description: 'Targets plus uniformly random filler items',
    defaultParams: { length_spread: 0.3 },
    defaultOptions: {},
  }),
  async generate(input) {
    const { numItems, rng } = input;
    const draw = uniformDraw(rng, numItems);
    return fillerProfiles(input, draw);
  },
};
