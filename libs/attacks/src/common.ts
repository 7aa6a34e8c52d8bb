import { columnCounts, type Csr, type ParamSpec, type Rng } from '@robustrec/core';
import type { GenerateInput, Profile } from './types';

/** Training popularity of every item (genuine users only). */
export const itemPopularity = (train: Csr): Uint32Array => columnCounts(train);

/** Items sorted by decreasing popularity (ties by id, so the order is deterministic). */
export function itemsByPopularity(pop: Uint32Array): Uint32Array {
  const order = Uint32Array.from({ length: pop.length }, (_, i) => i);
  return order.sort((a, b) => pop[b]! - pop[a]! || a - b);
}

/** Every generator's length_spread parameter (see profileLengths). */
export const lengthSpread: ParamSpec = { default: 0.3, min: 0, max: 1, description: 'profile lengths are uniform in [L(1-s), L(1+s)] around the mean length L' };

/**
 * Per-profile lengths: uniform in [L(1-s), L(1+s)] (s = params.length_spread), so that the
 * mean is the requested length and fake users do not all share one tell-tale length
 * (the authors' published profiles range 9-35 around Gowalla's mean of 27).
 */
export function profileLengths(input: GenerateInput, minLength: number): number[] {
  const s = input.params.length_spread ?? 0;
  const L = input.profileLength;
  const lo = Math.max(minLength, Math.round(L * (1 - s)));
  const hi = Math.min(input.numItems, Math.max(lo, Math.round(L * (1 + s))));
  return Array.from({ length: input.numFakeUsers }, () => lo + input.rng.int(hi - lo + 1));
}

/** Adds distinct items to `set` until it holds `length` items, drawing with `draw`. */
export function fillTo(set: Set<number>, length: number, draw: () => number, maxTries = 100 * length + 1000): void {
  for (let tries = 0; set.size < length && tries < maxTries; tries++) set.add(draw());
}

export function toProfile(name: string, items: Iterable<number>): Profile {
  return { name, items: Array.from(new Set(items)).sort((a, b) => a - b) };
}

/** Uniform draw over items that are not targets. */
export function uniformDraw(rng: Rng, numItems: number): () => number {
  return () => rng.int(numItems);
}

/** Alias-free popularity-proportional draw via the cumulative distribution (binary search). */
export function weightedDraw(rng: Rng, weights: ArrayLike<number>): () => number {
  const cdf = new Float64Array(weights.length);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) cdf[i] = acc += weights[i]!;
  return () => {
    const x = rng.next() * acc;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** Index of the largest `k` values of `scores` (excluding `exclude`), best first. */
export function topK(scores: ArrayLike<number>, k: number, exclude?: Set<number>): number[] {
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (exclude?.has(i)) continue;
    const s = scores[i]!;
    if (idx.length === k && s <= val[k - 1]!) continue;
    let p = idx.length === k ? k - 1 : idx.length;
    if (idx.length < k) {
      idx.push(i);
      val.push(s);
    }
    while (p > 0 && val[p - 1]! < s) {
      idx[p] = idx[p - 1]!;
      val[p] = val[p - 1]!;
      p--;
    }
    idx[p] = i;
    val[p] = s;
  }
  return idx;
}

/** Name of the i-th fake user, as in the authors' files. */
export const fakeName = (i: number): string => `fake_user_${i}`;

/**
 * The heuristic attacks' shared recipe: each profile holds the targets, then whatever
 * `prefill` adds (popular items, a segment), then fillers from `draw` up to its length.
 */
export async function fillerProfiles(
  input: GenerateInput,
  draw: () => number,
  prefill?: (profile: Set<number>, length: number) => void,
): Promise<{ profiles: Profile[] }> {
  const profiles = profileLengths(input, input.targets.length + 1).map((len, f) => {
    const s = new Set(input.targets);
    prefill?.(s, len);
    fillTo(s, len, draw);
    return toProfile(fakeName(f), s);
  });
  await input.onProgress({ phase: 'profiles', done: profiles.length, total: profiles.length });
  return { profiles };
}
