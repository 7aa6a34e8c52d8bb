import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data, evaluator } from '@robustrec/contracts';
import { Rng } from '@robustrec/core';
import { call, createClient, registerModel } from '@robustrec/grpc';
import { mergeShards, type RankingResult } from '@robustrec/metrics';
import { startDataService, type RunningDataService } from '@robustrec/data-service';
import { shardResultOf } from '../src/evaluation-stats';
import { startEvaluatorService } from '../src/service';

const DIM = 8;
const GENUINE = 400;
const FAKE = 30;

const mfHeader = (name: string, datasetId: string, numUsers: number, numItems: number): evaluator.Model => ({
  id: '', name, version: 0, backbone: 'mf', defense: 'none', datasetId, jobId: '', numUsers, numItems,
  tensors: [{ name: 'user_embedding', shape: [numUsers, DIM] }, { name: 'item_embedding', shape: [numItems, DIM] }],
  metrics: [], provenance: undefined, sizeBytes: 0,
});

const byKey = (ms: Array<{ name: string; k: number; value?: number; mean?: number }>): Record<string, number> => Object.fromEntries(ms.map((m) => [`${m.name}@${m.k}`, m.value ?? m.mean!]));
const relClose = (a: number, b: number, what: string): void => expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-9 * Math.max(Math.abs(a), Math.abs(b), 1e-300));

/**
 * Sampled and sharded EvaluatorService.Evaluate over loopback gRPC: one data service holding a
 * poisoned dataset (targets from its lineage), two evaluator replicas (each with its own SQLite
 * registry) holding the same model; shards spread over both and merged equal one full evaluation.
 */
describe('EvaluatorService.Evaluate, sampled and sharded across two replicas', () => {
  const homes = [0, 1, 2].map((i) => mkdtempSync(join(tmpdir(), `rr-shard-eval-${i}-`)));
  let dataSrv: RunningDataService;
  const evals: Array<Awaited<ReturnType<typeof startEvaluatorService>>> = [];
  const clients: evaluator.EvaluatorServiceClient[] = [];
  let poisoned: data.Dataset;
  const ref = { id: '', name: 'mf-shard', version: 1 };

  const evaluate = (c: evaluator.EvaluatorServiceClient, over: Partial<evaluator.EvaluateRequest> = {}): Promise<evaluator.Evaluation> =>
    call(c, c.evaluate, { model: ref, datasetId: '', split: 0, ks: [10, 20], targetItems: [], ...over }, { kind: 'work' }).then((r) => r.evaluation!);

  beforeAll(async () => {
    dataSrv = await startDataService({ home: homes[0]! });
    for (const h of homes.slice(1)) evals.push(await startEvaluatorService({ home: h, dataAddress: dataSrv.address }));
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    const clean = (await call(dc, dc.importDataset, { name: 'syn', synthetic: { numUsers: GENUINE, numItems: 150, meanInteractions: 15, popularityExponent: 0, clusters: 0, seed: 4 } })).dataset!;
    const r = new Rng(13);
    const profiles = Object.fromEntries(Array.from({ length: FAKE }, (_, f) => [`fake${f}`, ['5', '9', ...r.sample(150, 10).map(String)]]));
    const ps = (await call(dc, dc.importProfileSet, { datasetId: clean.id, path: '', json: JSON.stringify({ target_items: ['5', '9'], fake_users: profiles }), minLength: 0, generator: 'test' })).profileSet!;
    poisoned = (await call(dc, dc.derivePoisonedDataset, { datasetId: clean.id, profileSetId: ps.id, name: '' })).dataset!;
    dc.close();
    const users = Float32Array.from({ length: poisoned.numUsers * DIM }, () => r.normal());
    const items = Float32Array.from({ length: poisoned.numItems * DIM }, () => r.normal());
    // the same model in both replicas' registries (version 1 of the same name)
    for (const e of evals) await registerModel(e.address, mfHeader('mf-shard', poisoned.id, poisoned.numUsers, poisoned.numItems), { user_embedding: users, item_embedding: items });
    for (const e of evals) clients.push(createClient(evaluator.EvaluatorServiceClient, e.address));
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    for (const e of evals) await e?.shutdown();
    await dataSrv?.shutdown();
    homes.forEach((h) => rmSync(h, { recursive: true, force: true }));
  });

  it('a full evaluation states its population, seed and exact statistics (no new fields asked)', async () => {
    const full = await evaluate(clients[0]!);
    expect(full.targets.map((t) => t.item)).toEqual([5, 9]);
    expect(full.sampling).toEqual({ sampleUsers: 0, seed: 2024, shardIndex: 0, shardCount: 0, population: GENUINE, usersRanked: GENUINE });
    expect(byKey(full.statistics)).toEqual(byKey(full.metrics));
    for (const s of full.statistics) expect(s.ciHalfWidth, `${s.name}@${s.k}`).toBe(0);
    expect(full.statistics.find((s) => s.name === 'recall' && s.k === 20)!.count).toBe(full.usersEvaluated);
    // stored with its statistics (SQLite JSON round trip)
    expect((await call(clients[0]!, clients[0]!.getEvaluation, { id: full.id })).evaluation).toEqual(full);
  });

  for (const sampleUsers of [0, 150]) {
    it(`shards on two replicas merge to the unsharded evaluation (${sampleUsers ? `sample of ${sampleUsers}` : 'every user'})`, async () => {
      const whole = await evaluate(clients[1]!, { sampleUsers, sampleSeed: 77 });
      // 3 shards, shard i on replica i mod 2, both replicas at once
      const shards = await Promise.all([0, 1, 2].map((i) => evaluate(clients[i % 2]!, { sampleUsers, sampleSeed: 77, shardIndex: i, shardCount: 3 })));
      expect(shards.map((s) => s.sampling!.shardIndex)).toEqual([0, 1, 2]);
      expect(shards.reduce((a, s) => a + s.sampling!.usersRanked, 0)).toBe(whole.sampling!.usersRanked);
      // each replica stored the shards it evaluated
      await expect(call(clients[1]!, clients[1]!.getEvaluation, { id: shards[1]!.id })).resolves.toMatchObject({ evaluation: { sampling: { shardIndex: 1, shardCount: 3 } } });
      const merged: RankingResult = mergeShards(shards.map(shardResultOf));
      const wholeMetrics = byKey(whole.metrics);
      expect(Object.keys(merged.metrics).sort()).toEqual(Object.keys(wholeMetrics).sort());
      for (const [k, v] of Object.entries(wholeMetrics)) relClose(merged.metrics[k]!, v, k);
      for (const s of whole.statistics) {
        const m = merged.statistics[`${s.name}@${s.k}`]!;
        expect([m.count, m.population]).toEqual([s.count, s.population]);
        if (s.ciHalfWidth === undefined) expect(m.ciHalfWidth, `${s.name}@${s.k}`).toBeUndefined();
        else relClose(m.ciHalfWidth!, s.ciHalfWidth, `${s.name}@${s.k} half-width`);
        if (sampleUsers) expect(s.ciHalfWidth, `${s.name}@${s.k}`).toBeGreaterThan(0);
      }
      expect(merged.usersEvaluated).toBe(whole.usersEvaluated);
      whole.targets.forEach((t, ti) => {
        expect(merged.perTarget[ti]!.users).toBe(t.users);
        for (const m of t.metrics) relClose(merged.perTarget[ti]!.metrics[`${m.name}@${m.k}`]!, m.value, `target ${t.item} ${m.name}@${m.k}`);
      });
      if (sampleUsers) {
        expect(whole.sampling).toMatchObject({ sampleUsers, seed: 77, population: GENUINE, usersRanked: sampleUsers });
        expect(JSON.parse(whole.provenance!.configJson)).toMatchObject({ sampleUsers, sampleSeed: 77 });
        // the same seed, the same sample, on the other replica
        expect(byKey((await evaluate(clients[0]!, { sampleUsers, sampleSeed: 77 })).metrics)).toEqual(wholeMetrics);
      }
    });
  }

  it('rejects bad sampling and sharding arguments with INVALID_ARGUMENT naming the field', async () => {
    const c = clients[0]!;
    const bad = (over: Partial<evaluator.EvaluateRequest>, field: RegExp) => expect(evaluate(c, over)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(field) });
    await bad({ shardIndex: 3, shardCount: 3 }, /shard_index/);
    await bad({ shardIndex: 1 }, /shard_index/);
    await bad({ shardCount: 1025 }, /shard_count/);
    await bad({ sampleUsers: 1_000_000 }, /sample_users/);
    // more than the population (400 genuine users) though fewer than the model's 430 users
    await bad({ sampleUsers: GENUINE + 1 }, /sample_users: .*exceeds the 400 users/);
    const stored = await call(c, c.listEvaluations, { modelId: '', datasetId: '' });
    expect(stored.evaluations.every((e) => e.sampling)).toBe(true);
  });
});
