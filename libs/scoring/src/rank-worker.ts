/** Helper thread of a RankPool: ranks one share of users per request (the platform's handoff, @robustrec/core). */
import { helperData, serveRequests } from '@robustrec/core';
import { DotKernel } from './kernel';
import { scorerFromSpec } from './portable';
import { isScorerTask, runDotTask, runScorerTask, type DotRankTask, type ScorerRankTask } from './rank-task';
import type { Scorer } from './types';

/** Packed kernels of named item tables (RankTask.kernelKey) and built scorers (spec keys), most recent last; a couple of each at most. */
const kernels = new Map<string, DotKernel>();
const scorers = new Map<string, Scorer>();
const KEEP = 2;

function keep<T>(cache: Map<string, T>, key: string, value: T): T {
  cache.delete(key);
  cache.set(key, value);
  while (cache.size > KEEP) cache.delete(cache.keys().next().value!);
  return value;
}

function kernelFor(t: DotRankTask): DotKernel | undefined {
  if (!t.kernelKey) return undefined;
  const k = kernels.get(t.kernelKey);
  return keep(kernels, t.kernelKey, k && k.numItems === t.numItems && k.dim === t.dim ? k : new DotKernel(t.itemEmb, t.numItems, t.dim, t.packed));
}

function scorerFor(t: ScorerRankTask): Scorer {
  return keep(scorers, t.scorer.key, scorers.get(t.scorer.key) ?? scorerFromSpec(t.scorer));
}

const { end } = helperData<Record<string, never>>();
serveRequests(end, (_cmd, messages) => {
  const t = messages[0] as DotRankTask | ScorerRankTask;
  if (isScorerTask(t)) runScorerTask(scorerFor(t), t);
  else runDotTask(t, kernelFor(t));
});
