import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { data, scoring } from '@robustrec/contracts';
import { Rng } from '@robustrec/core';
import { call, createClient, listServices, registerModel } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { startEvaluatorService } from '@robustrec/evaluator-service';
import { tempDir, mfModelHeader } from './helpers';

/**
 * The Kubernetes split of the evaluator (deploy/k8s): a registry replica (evaluator +
 * registry roles, the stateful one) and a stateless scoring replica (`--serve
 * scoring,inference --registry ADDR`) that copies models from the registry over gRPC. The
 * scoring replica answers for a model registered on the other one, by name, and follows a new
 * version of that name.
 */
describe('scoring replica over a remote registry', () => {
  const tmp = tempDir('rr-scoring-');
  let dataSrv: Awaited<ReturnType<typeof startDataService>>;
  let registrySrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  let scoringSrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  let dataset: data.Dataset;
  const dim = 8;

  beforeAll(async () => {
    dataSrv = await startDataService({ home: join(tmp.dir, 'data') });
    registrySrv = await startEvaluatorService({ home: join(tmp.dir, 'registry'), dataAddress: dataSrv.address, roles: ['evaluator', 'registry'] });
    scoringSrv = await startEvaluatorService({ home: join(tmp.dir, 'scoring'), dataAddress: dataSrv.address, roles: ['scoring', 'inference'], registryAddress: registrySrv.address });
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    dataset = (await call(dc, dc.importDataset, { name: 'syn', synthetic: { numUsers: 120, numItems: 90, meanInteractions: 10, popularityExponent: 0, clusters: 0, seed: 3 } })).dataset!;
    dc.close();
  });
  afterAll(async () => {
    await scoringSrv?.shutdown();
    await registrySrv?.shutdown();
    await dataSrv?.shutdown();
    tmp.cleanup();
  });

  it('serves only its roles and scores models registered on the registry replica', async () => {
    expect(await listServices(registrySrv.address)).not.toContain('robustrec.v1.ScoringService');
    expect(await listServices(scoringSrv.address)).not.toContain('robustrec.v1.ModelRegistryService');
    const table = (n: number, seed: number): Float32Array => {
      const r = new Rng(seed);
      return Float32Array.from({ length: n * dim }, () => r.normal());
    };
    const header = mfModelHeader({ name: 'mirrored', datasetId: dataset.id, numUsers: dataset.numUsers, numItems: dataset.numItems, dim });
    const users = table(dataset.numUsers, 1);
    const v1 = await registerModel(registrySrv.address, header, { user_embedding: users, item_embedding: table(dataset.numItems, 2) });
    const sc = createClient(scoring.ScoringServiceClient, scoringSrv.address);
    const a = await call(sc, sc.score, { model: { id: '', name: 'mirrored', version: 0 }, user: 3, items: [0, 1, 2] });
    const item = table(dataset.numItems, 2);
    const expected = [0, 1, 2].map((i) => users.subarray(3 * dim, 4 * dim).reduce((s, x, j) => s + x * item[i * dim + j]!, 0));
    a.scores.forEach((s, i) => expect(s).toBeCloseTo(expected[i]!, 4));
    // a new version of the name is served by version at once (by name: once the name cache of 2 s expires)
    const v2 = await registerModel(registrySrv.address, header, { user_embedding: users.map((x) => -x), item_embedding: item });
    expect(v2.version).toBe(v1.version + 1);
    const byVersion = await call(sc, sc.score, { model: { id: '', name: 'mirrored', version: 2 }, user: 3, items: [0] });
    expect(byVersion.scores[0]).toBeCloseTo(-expected[0]!, 4);
    await expect(call(sc, sc.score, { model: { id: 'model_nope', name: '', version: 0 }, user: 3, items: [0] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    sc.close();
  });
});
