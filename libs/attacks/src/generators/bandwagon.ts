import { fillerProfiles, fillTo, itemPopularity, itemsByPopularity, lengthSpread, uniformDraw } from '../common';
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
  spec: {
    name: 'bandwagon',
    description: 'Targets plus a share of fillers from the most popular items, the rest random',
    params: {
      popular_share: { default: 0.5, min: 0, max: 1, description: 'share of each profile\'s fillers drawn from the popular items' },
      popular_fraction: { default: 0.1, min: 0, max: 1, description: 'the popular items: this top fraction of items by training popularity' },
      length_spread: lengthSpread,
    },
    options: {},
  },
  async generate(input) {
    const { targets, numItems, rng, params } = input;
    const share = params.popular_share!;
    const frac = params.popular_fraction!;
    const order = itemsByPopularity(itemPopularity(input.train));
    const popular = order.subarray(0, Math.max(1, Math.round(frac * numItems)));
    const draw = uniformDraw(rng, numItems);
    return fillerProfiles(input, draw, (s, len) => {
      const nPopular = Math.min(popular.length, Math.round(share * (len - targets.length)));
      fillTo(s, targets.length + nPopular, () => popular[rng.int(popular.length)]!);
    });
  },
};
