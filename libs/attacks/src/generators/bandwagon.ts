import { checkNumber } from '@robustrec/core';
import { fillerProfiles, fillTo, itemPopularity, itemsByPopularity, uniformDraw } from '../common';
import type { AttackGenerator } from '../types';

/**
 * Bandwagon attack. Recipe (documented choice): a share `popular_share` of each profile's
 * fillers is drawn uniformly from the top `popular_fraction` most popular items, the rest
 * uniformly from all items. The defaults (50% from the top 10%) match the authors'
 * published Gowalla file, where 53% of fillers lie in the top 10% (a random profile: 10%).
 * The other common recipe ("the top-N popular items in every profile") is
 * popular_fraction = N / num_items with popular_share = 1.
 */
export const bandwagon: AttackGenerator = {
  describe: () => ({
    name: 'bandwagon',
    description: 'Targets plus a share of fillers from the most popular items, the rest random',
    defaultParams: { popular_share: 0.5, popular_fraction: 0.1, length_spread: 0.3 },
    defaultOptions: {},
  }),
  async generate(input) {
    const { targets, numItems, rng, params } = input;
    const share = checkNumber('generator.params.popular_share', params.popular_share!, 0, 1);
    const frac = checkNumber('generator.params.popular_fraction', params.popular_fraction!, 0, 1);
    const order = itemsByPopularity(itemPopularity(input.train));
    const popular = order.subarray(0, Math.max(1, Math.round(frac * numItems)));
    const draw = uniformDraw(rng, numItems);
    return fillerProfiles(input, draw, (s, len) => {
      const nPopular = Math.min(popular.length, Math.round(share * (len - targets.length)));
      fillTo(s, targets.length + nPopular, () => popular[rng.int(popular.length)]!);
    });
  },
};
