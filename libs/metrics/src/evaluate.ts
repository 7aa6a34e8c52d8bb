import { invalidArgument, type Csr } from '@robustrec/core';
import { BLOCK, defaultThreads, isDotProductScorer, isPortableScorer, rankerOf, rankInSlices, rankPool, runDotTask, runScorerTask, type RankShare } from '@robustrec/scoring';
import type { TargetMetric, UserMetric } from './metric';
import { METRICS } from './registry';
import { metricStats, selectUsers, targetAggregate } from './sampling';
import type { MetricStats, RankingInput, RankingResult, Sampling } from './types';

export const DEFAULT_KS: readonly number[] = [10, 20, 50];

/** What one evaluation ranks: validated input plus the users and the shared top-K buffer. */
interface Plan {
  input: RankingInput;
  ks: number[];
  K: number;
  targets: Uint32Array;
  targetExclude: Csr[];
  /** Users a full evaluation ranks (with relevant items, or all genuine users when there are targets). */
  population: Uint32Array;
  /** Those that are ranked: the population, or its seeded sample / shard (sampling.ts). */
  users: Uint32Array;
  sampling: Sampling;
  /** users.length × K item ids, -1 padded; SharedArrayBuffer-backed so workers write into it. */
  top: Int32Array;
}

function checkCsr(field: string, m: Csr, numItems: number): void {
  if (m.numCols > numItems) throw invalidArgument(field, `has ${m.numCols} item columns but the scorer scores ${numItems} items`);
}

function plan(input: RankingInput): Plan {
  const { scorer, numGenuineUsers, relevant } = input;
  const numItems = scorer.numItems;
  if (!Number.isInteger(numGenuineUsers) || numGenuineUsers < 0 || numGenuineUsers > scorer.numUsers)
    throw invalidArgument('numGenuineUsers', `must be an integer in [0, ${scorer.numUsers}], got ${numGenuineUsers}`);
  const ks = [...(input.ks?.length ? input.ks : DEFAULT_KS)];
  for (const k of ks) if (!Number.isInteger(k) || k < 1) throw invalidArgument('ks', `cut-offs must be positive integers, got ${k}`);
  const K = Math.max(...ks);
  input.exclude.forEach((m, i) => checkCsr(`exclude[${i}]`, m, numItems));
  checkCsr('relevant', relevant, numItems);
  const targets = input.targets ?? new Uint32Array(0);
  for (const t of targets) if (t >= numItems) throw invalidArgument('targets', `target item ${t} out of range [0, ${numItems})`);
  const targetExclude = input.targetExclude ?? [...input.exclude, relevant];
  targetExclude.forEach((m, i) => checkCsr(`targetExclude[${i}]`, m, numItems));

  const ranked: number[] = [];
  for (let u = 0; u < numGenuineUsers; u++) if (targets.length > 0 || (u < relevant.numRows && relevant.indptr[u + 1]! > relevant.indptr[u]!)) ranked.push(u);
  const population = Uint32Array.from(ranked);
  const { users, sampling } = selectUsers(population, input.sample);
  const top = new Int32Array(new SharedArrayBuffer(Math.max(4, users.length * K * 4)), 0, users.length * K);
  return { input, ks, K, targets, targetExclude, population, users, sampling, top };
}

function baseTask(p: Plan): Omit<RankShare, 'start' | 'end'> {
  return { numItems: p.input.scorer.numItems, masks: p.input.exclude, users: p.users, k: p.K, top: p.top };
}

/**
 * Turns the top-K lists into metrics: every registered metric at every cut-off, from the
 * same lists (one pass over the scores). User metrics are averaged over genuine users with
 * relevant items; target metrics over eligible users per target, then over targets.
 */
function aggregate(p: Plan, seconds: number): RankingResult {
  const { input, ks, K, targets, top, users } = p;
  const numItems = input.scorer.numItems;
  const rel = input.relevant;
  const userMetrics = METRICS.filter((m): m is UserMetric => m.kind === 'user');
  const targetMetrics = METRICS.filter((m): m is TargetMetric => m.kind === 'target');
  const userSums = new Float64Array(userMetrics.length * ks.length);
  const userSq = new Float64Array(userMetrics.length * ks.length);
  const mark = new Uint8Array(numItems);
  const hits = new Uint8Array(K);
  let evaluated = 0;

  // target index of each item (-1: not a target), for one scan of each top list
  const targetOf = new Int32Array(numItems).fill(-1);
  targets.forEach((t, i) => (targetOf[t] = i));
  const tSums = new Float64Array(targets.length * targetMetrics.length * ks.length);
  const tSq = new Float64Array(targets.length * targetMetrics.length * ks.length);
  const tUsers = new Uint32Array(targets.length);
  const rankOf = new Float64Array(targets.length);
  /** seenBy[t] = u + 1 once user u is known to have interacted with target t. */
  const seenBy = new Float64Array(targets.length);

  for (let i = 0; i < users.length; i++) {
    const u = users[i]!;
    const off = i * K;
    let n = 0;
    while (n < K && top[off + n]! >= 0) n++;
    const list = top.subarray(off, off + n);

    const r0 = u < rel.numRows ? rel.indptr[u]! : 0;
    const r1 = u < rel.numRows ? rel.indptr[u + 1]! : 0;
    if (r1 > r0) {
      for (let q = r0; q < r1; q++) mark[rel.indices[q]!] = 1;
      for (let j = 0; j < n; j++) hits[j] = mark[list[j]!]!;
      const ranking = { top: new Uint32Array(list.buffer, list.byteOffset, n), hits: hits.subarray(0, n), numRelevant: r1 - r0 };
      for (let mi = 0; mi < userMetrics.length; mi++)
        for (let ki = 0; ki < ks.length; ki++) {
          const v = userMetrics[mi]!.value(ranking, ks[ki]!);
          userSums[mi * ks.length + ki]! += v;
          userSq[mi * ks.length + ki]! += v * v;
        }
      for (let q = r0; q < r1; q++) mark[rel.indices[q]!] = 0;
      evaluated++;
    }

    if (targets.length > 0) {
      rankOf.fill(Infinity);
      for (let j = 0; j < n; j++) {
        const ti = targetOf[list[j]!]!;
        if (ti >= 0) rankOf[ti] = j + 1;
      }
      // targets this user interacted with (not eligible): one pass over the user's rows
      for (const m of p.targetExclude) {
        if (u >= m.numRows) continue;
        for (let q = m.indptr[u]!, e = m.indptr[u + 1]!; q < e; q++) {
          const ti = targetOf[m.indices[q]!]!;
          if (ti >= 0) seenBy[ti] = u + 1;
        }
      }
      for (let ti = 0; ti < targets.length; ti++) {
        if (seenBy[ti] === u + 1) continue;
        tUsers[ti]!++;
        const base = ti * targetMetrics.length * ks.length;
        for (let mi = 0; mi < targetMetrics.length; mi++)
          for (let ki = 0; ki < ks.length; ki++) {
            const v = targetMetrics[mi]!.value(rankOf[ti]!, ks[ki]!);
            tSums[base + mi * ks.length + ki]! += v;
            tSq[base + mi * ks.length + ki]! += v * v;
          }
      }
    }
  }

  // population sizes of the metrics' domains: users with relevant items, users eligible per target
  let relPopulation = 0;
  for (const u of p.population) if (u < rel.numRows && rel.indptr[u + 1]! > rel.indptr[u]!) relPopulation++;
  const tPopulation = eligibleCounts(p);

  const metrics: Record<string, number> = {};
  const statistics: Record<string, MetricStats> = {};
  userMetrics.forEach((m, mi) =>
    ks.forEach((k, ki) => {
      const key = `${m.name}@${k}`;
      metrics[key] = evaluated ? userSums[mi * ks.length + ki]! / evaluated : 0;
      statistics[key] = metricStats(evaluated, userSums[mi * ks.length + ki]!, userSq[mi * ks.length + ki]!, relPopulation);
    }),
  );
  const perTarget: RankingResult['perTarget'] = [];
  if (targets.length > 0) {
    for (let ti = 0; ti < targets.length; ti++) {
      const pm: Record<string, number> = {};
      const ps: Record<string, MetricStats> = {};
      const base = ti * targetMetrics.length * ks.length;
      targetMetrics.forEach((m, mi) =>
        ks.forEach((k, ki) => {
          const key = `${m.name}@${k}`;
          pm[key] = tUsers[ti] ? tSums[base + mi * ks.length + ki]! / tUsers[ti]! : 0;
          ps[key] = metricStats(tUsers[ti]!, tSums[base + mi * ks.length + ki]!, tSq[base + mi * ks.length + ki]!, tPopulation[ti]!);
        }),
      );
      // a target every genuine user interacted with has no eligible user: reported, not averaged
      perTarget.push({ item: targets[ti]!, users: tUsers[ti]!, metrics: pm, statistics: ps });
    }
    const agg = targetAggregate(perTarget, targetMetrics.flatMap((m) => ks.map((k) => `${m.name}@${k}`)));
    Object.assign(metrics, agg.metrics);
    Object.assign(statistics, agg.statistics);
  }
  return { metrics, statistics, perTarget, usersEvaluated: evaluated, seconds, sampling: p.sampling };
}

/** Users of the population eligible for each target (never interacted with it): one pass over their rows. */
function eligibleCounts(p: Plan): Uint32Array {
  const { targets, population, targetExclude } = p;
  const out = new Uint32Array(targets.length).fill(population.length);
  if (!targets.length) return out;
  const targetOf = new Int32Array(p.input.scorer.numItems).fill(-1);
  targets.forEach((t, i) => (targetOf[t] = i));
  const stamp = new Int32Array(targets.length).fill(-1);
  for (const u of population)
    for (const m of targetExclude) {
      if (u >= m.numRows) continue;
      for (let q = m.indptr[u]!, e = m.indptr[u + 1]!; q < e; q++) {
        const ti = targetOf[m.indices[q]!]!;
        if (ti >= 0 && stamp[ti] !== u) {
          stamp[ti] = u;
          out[ti]!--;
        }
      }
    }
  return out;
}

function threadsFor(input: RankingInput, users: number): number {
  const t = input.threads ?? defaultThreads();
  if (!Number.isInteger(t) || t < 1) throw invalidArgument('threads', `must be a positive integer, got ${t}`);
  // small evaluations are not worth a worker round trip
  return Math.max(1, Math.min(t, Math.floor(users / (2 * BLOCK))));
}

/**
 * The ranking of a plan, for both entry points: `blocking` ranks on this thread and its sync
 * pool; otherwise dot-product and portable scorers (NeuMF) rank on the async pool's threads,
 * and any other scorer here in slices of ~20 ms; each yielded promise is a point where the
 * event loop may run.
 */
function* rankAll(p: Plan, blocking: boolean): Generator<Promise<void>, void> {
  const s = p.input.scorer;
  const n = p.users.length;
  if (n === 0) return;
  if (isDotProductScorer(s)) {
    const base = { ...baseTask(p), userEmb: s.userEmb, itemEmb: s.itemEmb, dim: s.dim, kernelKey: s.key, packed: s.packed() };
    const threads = threadsFor(p.input, n);
    if (!blocking) yield rankPool('async').runAsync(base, n, threads);
    else if (threads > 1) rankPool('sync').runSync(base, n, threads, s.kernel());
    else runDotTask({ ...base, start: 0, end: n }, s.kernel());
  } else if (blocking) runScorerTask(s, { ...baseTask(p), start: 0, end: n });
  else if (isPortableScorer(s)) yield rankPool('async').runAsync({ ...baseTask(p), scorer: s.portable() }, n, threadsFor(p.input, n));
  else {
    // slices of ~20 ms: the event loop this runs on also serves the process's gRPC calls
    const t = baseTask(p);
    for (const _ of rankInSlices(rankerOf(s), t.users, 0, n, t.masks, t.k, t.top)) yield new Promise<void>((r) => setImmediate(r));
  }
}

/**
 * Full-ranking evaluation (reference notes §4): Recall@k / NDCG@k over genuine users with
 * relevant items and T-HR@k / T-NDCG@k per target, all from one top-K pass over the score
 * rows with `exclude` masked. Dot-product scorers are ranked on worker threads with the SIMD
 * kernel (blocks this thread until done); other scorers on this thread. Deterministic:
 * the same input gives bit-identical results whatever the thread count.
 *
 * `input.sample` ranks only a seeded simple random sample of the users and/or one shard of
 * them (sampling.ts); every result carries the sufficient statistics (count, sum, sum of
 * squares, population) of each averaged metric and its 95% interval, and `mergeShards`
 * combines shards into the unsharded result. Without it every user is ranked, as before, and
 * the metrics are bit-identical to those of earlier versions.
 */
export function evaluateRanking(input: RankingInput): RankingResult {
  const t0 = performance.now();
  const p = plan(input);
  for (const _ of rankAll(p, true));
  return aggregate(p, (performance.now() - t0) / 1000);
}

/**
 * The same evaluation without blocking the event loop (services): dot-product scorers run
 * entirely on worker threads; other scorers run here in slices of ~20 ms, yielding between them.
 */
export async function evaluateRankingAsync(input: RankingInput): Promise<RankingResult> {
  const t0 = performance.now();
  const p = plan(input);
  for (const wait of rankAll(p, false)) await wait;
  return aggregate(p, (performance.now() - t0) / 1000);
}
