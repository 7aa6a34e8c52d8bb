/** Helper thread of a RankPool: ranks one share of users per request (the platform's handoff, @robustrec/core). */
import { helperData, serveRequests } from '@robustrec/core';
import { DotKernel } from './kernel';
import { runDotTask, type RankTask } from './rank-task';

/** Packed kernels of named item tables (RankTask.kernelKey), most recent last; a couple at most. */
const kernels = new Map<string, DotKernel>();
const KEEP = 2;

function kernelFor(t: RankTask): DotKernel | undefined {
  if (!t.kernelKey) return undefined;
  let k = kernels.get(t.kernelKey);
  if (k && k.numItems === t.numItems && k.dim === t.dim) {
    kernels.delete(t.kernelKey);
  } else k = new DotKernel(t.itemEmb, t.numItems, t.dim, t.packed);
  kernels.set(t.kernelKey, k);
  while (kernels.size > KEEP) kernels.delete(kernels.keys().next().value!);
  return k;
}

const { end } = helperData<Record<string, never>>();
serveRequests(end, (_cmd, messages) => {
  const t = messages[0] as RankTask;
  runDotTask(t, kernelFor(t));
});
