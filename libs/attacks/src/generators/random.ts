import { fakeName, fillTo, profileLengths, toProfile, uniformDraw } from '../common';
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
    const { targets, numItems, rng } = input;
    const draw = uniformDraw(rng, numItems);
    const profiles = profileLengths(input, targets.length + 1).map((len, f) => {
      const s = new Set(targets);
      fillTo(s, len, draw);
      return toProfile(fakeName(f), s);
    });
    await input.onProgress({ phase: 'profiles', done: profiles.length, total: profiles.length });
    return { profiles };
  },
};
