/**
 * robustrec evaluate (main.ts dispatches here): one exact evaluation of a registered model,
 * optionally on a seeded sample of users and/or cut into shards spread over evaluator replicas.
 *
 *   robustrec evaluate --model MODEL [--dataset ID] [--sample-users N] [--seed S] [--shards N]
 *                      [--ks 10,20,50] [--json] --evaluator ADDR[,ADDR...]
 *
 * With --shards N, shard i goes to evaluator address i mod (number of addresses); the
 * addresses work side by side, each on its shards one after the other; a replica that goes
 * away (or runs out of time or memory) hands its unfinished shards to the others; and the
 * shards' sufficient statistics are merged exactly (libs/metrics mergeShards) into the unsharded evaluation's
 * metrics and 95% intervals. Each shard's evaluation is also stored by the evaluator that ran it.
 */
import { parseArgs } from 'node:util';
import { common, evaluator } from '@robustrec/contracts';
import { RrError } from '@robustrec/core';
import { call, createClient } from '@robustrec/grpc';
import { shardResultOf } from '@robustrec/evaluator-service';
import { MAX_SHARDS, mergeShards, type RankingResult } from '@robustrec/metrics';
import { parseModelRef } from './serving';

export const EVALUATE_USAGE = `  evaluate --model MODEL --evaluator ADDR[,ADDR..] [--dataset ID] [--sample-users N] [--seed S] [--shards N] [--ks 10,20,50] [--json]
                            exact metrics with 95% intervals, on a seeded sample of users and/or in N shards spread over the evaluators
`;

export interface ShardedEvaluation {
  model: evaluator.ModelRef;
  datasetId?: string;
  /** 0: every user. */
  sampleUsers?: number;
  /** 0: the evaluator's default (2024). */
  seed?: number;
  /** 0: one unsharded request. */
  shards?: number;
  ks?: number[];
  /** Evaluator addresses; shard i goes to addresses[i mod length]. */
  addresses: string[];
}

/**
 * Runs the (sharded) evaluation and merges it; the shards' own evaluations come back too, and
 * `moved` names each failure after which a shard went to another replica.
 */
export async function runEvaluation(o: ShardedEvaluation): Promise<{ result: RankingResult; evaluations: evaluator.Evaluation[]; moved: string[] }> {
  if (!o.addresses.length) throw new RrError('INVALID_ARGUMENT', '--evaluator: at least one address is needed');
  const shards = o.shards ?? 0;
  const request = (shardIndex: number): evaluator.EvaluateRequest => ({
    model: o.model,
    datasetId: o.datasetId ?? '',
    split: common.Split.SPLIT_TEST,
    ks: o.ks ?? [],
    targetItems: [],
    sampleUsers: o.sampleUsers ?? 0,
    sampleSeed: o.seed ?? 0,
    shardIndex,
    shardCount: shards,
  });
  const clients = o.addresses.map((a) => createClient(evaluator.EvaluatorServiceClient, a));
  const count = Math.max(1, shards);
  const evaluations: evaluator.Evaluation[] = new Array(count);
  const moved: string[] = [];
  try {
    // rounds: shard i goes to the i-th live address mod their number, the addresses side by side,
    // each on its shards in turn; a replica that fails a shard with a status another replica may
    // not share (down, out of time or memory) takes no more, and its unfinished shards go to the
    // live ones in the next round. Other failures (a bad request, an unknown model) end the run.
    let todo = Array.from({ length: count }, (_, i) => i);
    let live = clients.map((_, a) => a);
    while (todo.length) {
      if (!live.length) throw new RrError('UNAVAILABLE', `shard${todo.length > 1 ? 's' : ''} ${todo.join(', ')} not evaluated: every evaluator failed (${moved.join('; ')})`);
      const queues = live.map((): number[] => []);
      todo.forEach((i, j) => queues[j % live.length]!.push(i));
      const next: number[] = [];
      const failed = new Set<number>();
      await Promise.all(
        live.map(async (a, j) => {
          const queue = queues[j]!;
          for (let q = 0; q < queue.length; q++) {
            const i = queue[q]!;
            const c = clients[a]!;
            try {
              evaluations[i] = (await call(c, c.evaluate, request(i), { kind: 'work' })).evaluation!;
            } catch (e) {
              const err = e as { code?: string; message?: string };
              const code = err.code ?? 'UNAVAILABLE';
              const what = `shard ${i} on ${o.addresses[a]}: ${err.message ?? String(e)}`;
              if (!RETRIABLE.has(code)) throw new RrError(code as never, what);
              moved.push(`${what} (${code})`);
              failed.add(a);
              next.push(...queue.slice(q));
              return;
            }
          }
        }),
      );
      live = live.filter((a) => !failed.has(a));
      todo = next.sort((x, y) => x - y);
    }
    return { result: mergeShards(evaluations.map(shardResultOf)), evaluations, moved };
  } finally {
    clients.forEach((c) => c.close());
  }
}

/** Statuses after which a shard is worth trying on another replica (its own trouble, not the request's). */
const RETRIABLE = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'CANCELLED']);

/**
 * "± h  95% CI [lo, hi]": every metric is a mean of per-user values in [0, 1], so the normal
 * interval is clipped to that range (near 0 it would otherwise claim negative recall), and says so.
 */
function interval(v: number, h: number): string {
  const lo = Math.max(0, v - h), hi = Math.min(1, v + h);
  const clipped = lo !== v - h || hi !== v + h ? ', clipped to [0, 1]' : '';
  return `± ${h.toFixed(6)}  95% CI [${lo.toFixed(6)}, ${hi.toFixed(6)}${clipped}]`;
}

/** The lines the CLI prints: the users evaluated, then each metric with its interval. */
export function formatEvaluation(r: RankingResult, shards = 0): string[] {
  const s = r.sampling;
  const lines = [
    `users evaluated: ${r.usersEvaluated} with relevant items (${s.usersRanked} ranked of a population of ${s.population}; ` +
      `${s.sampleUsers ? `seeded sample of ${s.sampleUsers}` : 'every user'}, seed ${s.seed}${shards > 1 ? `, merged from ${shards} shards` : ''})`,
  ];
  const width = Math.max(...Object.keys(r.metrics).map((k) => k.length));
  for (const [k, v] of Object.entries(r.metrics)) {
    const st = r.statistics[k];
    const h = st?.ciHalfWidth;
    const ci = h === undefined ? 'interval undefined (fewer than 2 users, or every sampled value equal)' : h === 0 ? 'exact (every user of the population)' : interval(v, h);
    lines.push(`${k.padEnd(width)}  ${v.toFixed(6)}  ${ci}  (n = ${st?.count ?? 0} of N = ${st?.population ?? 0})`);
  }
  return lines;
}

function intOption(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max) throw new RrError('INVALID_ARGUMENT', `--${name}: must be an integer in [${min}, ${max}], got ${JSON.stringify(v.slice(0, 32))}`);
  return Number(v);
}

/** robustrec evaluate ... (args after the command name); returns the exit code. */
export async function evaluateCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      dataset: { type: 'string' },
      'sample-users': { type: 'string' },
      seed: { type: 'string' },
      shards: { type: 'string' },
      ks: { type: 'string' },
      evaluator: { type: 'string', default: process.env.ROBUSTREC_EVALUATOR },
      json: { type: 'boolean' },
    },
  });
  if (!values.model) throw new RrError('INVALID_ARGUMENT', `--model: required\n${EVALUATE_USAGE}`);
  const addresses = (values.evaluator ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!addresses.length) throw new RrError('INVALID_ARGUMENT', `--evaluator: at least one address is required\n${EVALUATE_USAGE}`);
  if (addresses.length > MAX_SHARDS) throw new RrError('INVALID_ARGUMENT', `--evaluator: at most ${MAX_SHARDS} addresses`);
  const ks = values.ks?.split(',').map((k, i) => intOption(`ks[${i}]`, k.trim(), 1, 1_000_000)!);
  const { result, moved } = await runEvaluation({
    model: parseModelRef(values.model),
    datasetId: values.dataset,
    sampleUsers: intOption('sample-users', values['sample-users'], 0, 0xffffffff),
    seed: intOption('seed', values.seed, 0, 0xffffffff),
    shards: intOption('shards', values.shards, 1, MAX_SHARDS),
    ks,
    addresses,
  });
  for (const m of moved) console.error(`robustrec evaluate: ${m}; its unfinished shards went to the other evaluators`);
  console.log(values.json ? JSON.stringify(result, null, 2) : formatEvaluation(result, intOption('shards', values.shards, 1, MAX_SHARDS)).join('\n'));
  return 0;
}
