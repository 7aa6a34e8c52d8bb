import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { data, evaluator, scoring } from '@robustrec/contracts';
import { csrHas, Rng, type Csr } from '@robustrec/core';
import { call, createClient, fetchInteractionData, registerModel } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { startEvaluatorService } from '@robustrec/evaluator-service';
import { exited, spawnTs, tempDir, mfModelHeader } from './helpers';

/**
 * `robustrec export` and `robustrec score` from the CLI (a real process against a running
 * evaluator): the TensorFlow.js model loads in plain @tensorflow/tfjs and gives the same top-k
 * as RobustRec's scorer, the .npy files read back (a small parser here, and numpy when
 * present) to the registered tensors bit for bit, and offline scoring writes every user's list.
 */
describe('export to TensorFlow.js and .npy, offline scoring', () => {
  const tmp = tempDir();
  let dataSrv: Awaited<ReturnType<typeof startDataService>>;
  let evalSrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  let train: Csr;
  let numUsers = 0;
  let numItems = 0;
  const dim = 64;
  let userEmb: Float32Array;
  let itemEmb: Float32Array;

  const cli = async (args: string[]): Promise<{ code: number | null; out: string }> => {
    const p = spawnTs('services/orchestrator/src/main.ts', [...args, '--evaluator', evalSrv.address]);
    const code = await exited(p);
    return { code, out: p.output() };
  };
  /** RobustRec's own lists (the batch path of the evaluator). */
  const served = async (users: number[], k: number): Promise<{ items: number[]; scores: number[] }> => {
    const sc = createClient(scoring.ScoringServiceClient, evalSrv.address);
    const r = await call(sc, sc.recommendMany, { model: { id: '', name: 'exp-mf', version: 0, alias: 'production' }, users, k, includeSeen: false });
    sc.close();
    return r;
  };

  beforeAll(async () => {
    dataSrv = await startDataService({ home: tmp.dir });
    evalSrv = await startEvaluatorService({ home: tmp.dir, dataAddress: dataSrv.address });
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    // 17,000 items × 64 floats (4.4 MB): the tfjs weights span two 4 MB shards
    const ds = (await call(dc, dc.importDataset, { name: 'exp', synthetic: { numUsers: 600, numItems: 17_000, meanInteractions: 25, popularityExponent: 0.5, clusters: 0, seed: 12 } })).dataset!;
    dc.close();
    numUsers = ds.numUsers;
    numItems = ds.numItems;
    train = (await fetchInteractionData(dataSrv.address, ds.id)).data.train;
    const r = new Rng(77);
    userEmb = Float32Array.from({ length: numUsers * dim }, () => 0.1 * r.normal());
    itemEmb = Float32Array.from({ length: numItems * dim }, () => 0.1 * r.normal());
    const header = mfModelHeader({ name: 'exp-mf', defense: 'pamacf', datasetId: ds.id, numUsers, numItems, dim });
    const m = await registerModel(evalSrv.address, header, { user_embedding: userEmb, item_embedding: itemEmb });
    const rc = createClient(evaluator.ModelRegistryServiceClient, evalSrv.address);
    await call(rc, rc.setAlias, { name: 'exp-mf', alias: 'production', version: m.version });
    rc.close();
  });
  afterAll(async () => {
    await evalSrv?.shutdown();
    await dataSrv?.shutdown();
    tmp.cleanup();
  });

  it('robustrec export --format tfjs: plain @tensorflow/tfjs loads it and ranks like RobustRec', async () => {
    const out = join(tmp.dir, 'tfjs');
    const res = await cli(['export', 'exp-mf@production', '--format', 'tfjs', '--out', out]);
    expect(res.code, res.out).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['group1-shard1of2.bin', 'group1-shard2of2.bin', 'model.json']);
    await tf.setBackend('cpu');
    // what a browser's fetch or a server's file read hands tfjs: model.json and its shards
    const modelJson = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as tf.io.ModelJSON;
    const model = await tf.loadLayersModel({
      load: async () => {
        const specs = modelJson.weightsManifest.flatMap((g) => g.weights);
        const bytes = Buffer.concat(modelJson.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(out, p)))));
        return { modelTopology: modelJson.modelTopology, weightSpecs: specs, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
      },
    });
    expect(model.outputs[0]!.shape).toEqual([null, numItems]);
    const rng = new Rng(3);
    const sample = Array.from({ length: 40 }, () => rng.int(numUsers));
    const k = 20;
    // the tfjs side: scores for the users, seen items masked, tf.topk
    const scores = tf.tidy(() => model.predict(tf.tensor2d(sample, [sample.length, 1])) as tf.Tensor2D);
    const mask = new Float32Array(sample.length * numItems);
    sample.forEach((u, r) => {
      for (let i = 0; i < numItems; i++) if (csrHas(train, u, i)) mask[r * numItems + i] = -Infinity;
    });
    const { values, indices } = tf.topk(tf.add(scores, tf.tensor2d(mask, [sample.length, numItems])), k);
    const tfItems = (await indices.array()) as number[][];
    const tfScores = (await values.array()) as number[][];
    tf.dispose([scores, values, indices]);
    model.dispose();
    const ours = await served(sample, k);
    sample.forEach((_, r) => {
      expect(tfItems[r]).toEqual(ours.items.slice(r * k, (r + 1) * k));
      tfScores[r]!.forEach((s, j) => expect(s).toBeCloseTo(ours.scores[r * k + j]!, 5));
    });
  });

  it('robustrec export --format npy: the tensors read back bit for bit', async () => {
    const out = join(tmp.dir, 'npy');
    const res = await cli(['export', 'exp-mf@1', '--format', 'npy', '--out', out]);
    expect(res.code, res.out).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['item_embedding.npy', 'model.json', 'user_embedding.npy']);
    /** A minimal .npy (v1/v2) reader for little-endian float32 C-order arrays. */
    const readNpy = (file: string): { shape: number[]; data: Float32Array } => {
      const b = readFileSync(file);
      expect(b.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
      const v1 = b[6] === 1;
      const len = v1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
      const start = (v1 ? 10 : 12) + len;
      expect(start % 64).toBe(0);
      const header = b.subarray(v1 ? 10 : 12, start).toString('latin1');
      expect(header).toMatch(/'descr': '<f4'/);
      expect(header).toMatch(/'fortran_order': False/);
      const shape = /'shape': \(([^)]*)\)/.exec(header)![1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
      const body = b.subarray(start);
      return { shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)) };
    };
    const u = readNpy(join(out, 'user_embedding.npy'));
    const v = readNpy(join(out, 'item_embedding.npy'));
    expect(u.shape).toEqual([numUsers, dim]);
    expect(v.shape).toEqual([numItems, dim]);
    expect(Buffer.from(u.data.buffer).equals(Buffer.from(userEmb.buffer))).toBe(true);
    expect(Buffer.from(v.data.buffer).equals(Buffer.from(itemEmb.buffer))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'))).toMatchObject({ name: 'exp-mf', version: 1, backbone: 'mf', defense: 'pamacf' });
    // numpy itself, when this machine has it
    const np = spawnSync('python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(join(out, 'item_embedding.npy'))}); print(a.dtype, a.shape, repr(float(a[123, 7])))`], { encoding: 'utf8' });
    if (np.status === 0) expect(np.stdout.trim()).toBe(`float32 (${numItems}, ${dim}) ${String(itemEmb[123 * dim + 7])}`);
    // a second export to the same place is refused and leaves the first intact
    const again = await cli(['export', 'exp-mf@1', '--format', 'npy', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.out).toMatch(/exists and is not empty/);
    expect(readdirSync(out)).toHaveLength(3);
  });

  it('robustrec score: every user of a file, top-k with seen items masked, on the batch path', async () => {
    const usersFile = join(tmp.dir, 'users.txt');
    const all = Array.from({ length: numUsers }, (_, u) => u);
    writeFileSync(usersFile, `# every user\n${all.join('\n')}\n`);
    const out = join(tmp.dir, 'scores.tsv');
    const res = await cli(['score', '--model', 'exp-mf@production', '--users', usersFile, '--out', out, '--k', '10']);
    expect(res.code, res.out).toBe(0);
    expect(res.out).toMatch(/100% .* users\/s/);
    expect(res.out).toMatch(new RegExp(`${numUsers} users scored with exp-mf v1`));
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('user\titems\tscores');
    expect(lines).toHaveLength(numUsers + 1);
    const ours = await served(all, 10);
    lines.slice(1).forEach((l, u) => {
      const [user, items, scores] = l.split('\t');
      expect(Number(user)).toBe(u);
      const list = items!.split(',').map(Number);
      expect(list).toEqual(ours.items.slice(u * 10, u * 10 + 10));
      for (const it of list) expect(csrHas(train, u, it)).toBe(false);
      expect(scores!.split(',').map(Number)).toEqual(ours.scores.slice(u * 10, u * 10 + 10));
    });
    // a bad id is refused with file:line, and no output file appears
    writeFileSync(usersFile, '1\n2\nthree\n');
    const bad = await cli(['score', '--model', 'exp-mf', '--users', usersFile, '--out', join(tmp.dir, 'bad.tsv')]);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/users\.txt:3: "three" is not a user id/);
    expect(existsSync(join(tmp.dir, 'bad.tsv'))).toBe(false);
  });
});
