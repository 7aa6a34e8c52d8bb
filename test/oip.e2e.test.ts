import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { data, evaluator } from '@robustrec/contracts';
import { csrHas, repoRoot, Rng, type Csr } from '@robustrec/core';
import { call, createClient, downloadModel, fetchInteractionData, registerModel } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { npyFiles, startEvaluatorService, tfjsFiles } from '@robustrec/evaluator-service';
import { tempDir, mfModelHeader } from './helpers';

/**
 * Open Inference Protocol conformance (KServe v2 / Triton), both transports over the same
 * loaded models. The REST side is plain HTTP requests shaped as the spec's examples; the gRPC
 * side is a client generated here from proto/inference/grpc_predict_v2.proto (proto-loader),
 * not the project's generated code or helpers. Expected lists come from a brute-force sort.
 */
describe('Open Inference Protocol: HTTP/REST and gRPC', () => {
  const tmp = tempDir();
  let dataSrv: Awaited<ReturnType<typeof startDataService>>;
  let evalSrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  let base: string;
  let train: Csr;
  let numUsers = 0;
  let numItems = 0;
  const dim = 8;
  const tables: Record<number, { users: Float32Array; items: Float32Array }> = {};
  let grpc: Record<string, (req: unknown, cb: (e: ServiceError | null, r: any) => void) => void> & { close(): void };
  const rpc = <T = any>(m: string, req: unknown): Promise<T> => new Promise((res, rej) => grpc[m]!(req, (e, r) => (e ? rej(e) : res(r as T))));

  const table = (n: number, seed: number): Float32Array => {
    const r = new Rng(seed);
    return Float32Array.from({ length: n * dim }, () => r.normal());
  };
  /** Top-k of user u under version v by a full sort of exact float32 scores (ties: lower id). */
  const brute = (v: number, u: number, k: number, includeSeen = false): number[] => {
    const { users, items } = tables[v]!;
    return Array.from({ length: numItems }, (_, i) => i)
      .filter((i) => includeSeen || !csrHas(train, u, i))
      .map((i) => ({ i, s: Math.fround(users.subarray(u * dim, u * dim + dim).reduce((a, x, j) => a + x * items[i * dim + j]!, 0)) }))
      .sort((a, b) => b.s - a.s || a.i - b.i)
      .slice(0, k)
      .map((x) => x.i);
  };
  const get = (path: string): Promise<Response> => fetch(`${base}${path}`);
  const post = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  /** A 4xx with the spec's error object, whose message matches. */
  const refused = async (r: Promise<Response>, code: number, message: RegExp): Promise<void> => {
    const res = await r;
    const body = (await res.json()) as { error: string };
    expect({ status: res.status, keys: Object.keys(body) }).toEqual({ status: code, keys: ['error'] });
    expect(body.error).toMatch(message);
  };

  beforeAll(async () => {
    dataSrv = await startDataService({ home: tmp.dir });
    evalSrv = await startEvaluatorService({ home: tmp.dir, dataAddress: dataSrv.address, httpAddress: '127.0.0.1:0', maxBatch: 500 });
    base = `http://${evalSrv.httpAddress}`;
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    const ds = (await call(dc, dc.importDataset, { name: 'oip', synthetic: { numUsers: 120, numItems: 90, meanInteractions: 10, popularityExponent: 0, clusters: 0, seed: 5 } })).dataset!;
    dc.close();
    numUsers = ds.numUsers;
    numItems = ds.numItems;
    train = (await fetchInteractionData(dataSrv.address, ds.id)).data.train;
    for (const v of [1, 2]) {
      tables[v] = { users: table(numUsers, 10 * v), items: table(numItems, 10 * v + 1) };
      const header = mfModelHeader({ name: 'oip-mf', datasetId: ds.id, numUsers, numItems, dim });
      await registerModel(evalSrv.address, header, { user_embedding: tables[v]!.users, item_embedding: tables[v]!.items });
    }
    const pkg = loadPackageDefinition(loadSync(join(repoRoot, 'proto/inference/grpc_predict_v2.proto'), { keepCase: true, longs: Number, defaults: true, oneofs: true }));
    const Ctor = (pkg.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;
    grpc = new Ctor(evalSrv.address, credentials.createInsecure()) as unknown as typeof grpc;
  });
  afterAll(async () => {
    grpc?.close();
    await evalSrv?.shutdown();
    await dataSrv?.shutdown();
    tmp.cleanup();
  });

  it('REST health, server metadata and model metadata follow the spec', async () => {
    for (const p of ['/v2/health/live', '/v2/health/ready']) {
      const r = await get(p);
      expect([r.status, await r.text()]).toEqual([200, '']);
    }
    const meta = await get('/v2');
    expect(meta.status).toBe(200);
    expect(await meta.json()).toEqual({ name: 'robustrec', version: expect.any(String), extensions: [] });
    const model = await get('/v2/models/oip-mf');
    expect(await model.json()).toEqual({
      name: 'oip-mf',
      versions: ['1', '2'],
      platform: 'robustrec_mf',
      inputs: [{ name: 'user', datatype: 'INT64', shape: [-1] }],
      outputs: [
        { name: 'items', datatype: 'INT64', shape: [-1, -1] },
        { name: 'scores', datatype: 'FP32', shape: [-1, -1] },
      ],
    });
    expect(((await (await get('/v2/models/oip-mf/versions/1')).json()) as { name: string }).name).toBe('oip-mf');
    await refused(get('/v2/models/oip-mf/versions/7'), 404, /oip-mf v7/);
    await refused(get('/v2/models/nope'), 404, /nope/);
    await refused(get('/v1/models/oip-mf'), 404, /no such endpoint/);
    await refused(post('/v2/health/live', {}), 405, /POST/);
    await refused(get('/v2/models/oip-mf/infer'), 405, /GET/);
  });

  it('model readiness (REST and gRPC) is true once a version is loaded, and not before', async () => {
    expect((await get('/v2/models/oip-mf/versions/1/ready')).status).toBe(400);
    expect(await rpc('ModelReady', { name: 'oip-mf', version: '1' })).toEqual({ ready: false });
    expect((await get('/v2/models/nope/ready')).status).toBe(404);
    expect((await post('/v2/models/oip-mf/versions/1/infer', { inputs: [{ name: 'user', shape: [1], datatype: 'INT64', data: [0] }] })).status).toBe(200);
    const ready = await get('/v2/models/oip-mf/versions/1/ready');
    expect([ready.status, await ready.text()]).toEqual([200, '']);
    expect(await rpc('ModelReady', { name: 'oip-mf', version: '1' })).toEqual({ ready: true });
    expect((await get('/v2/models/oip-mf/versions/2/ready')).status).toBe(400);
  });

  it('REST inference: the spec example shape, flat and nested data, every integer datatype, outputs and parameters', async () => {
    // the spec's example: an id, one input, one requested output
    const res = await post('/v2/models/oip-mf/versions/1/infer', { id: '42', inputs: [{ name: 'user', shape: [2], datatype: 'UINT32', data: [3, 4] }], outputs: [{ name: 'items' }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as any;
    expect(body).toEqual({ model_name: 'oip-mf', model_version: '1', id: '42', outputs: [{ name: 'items', datatype: 'INT64', shape: [2, 10], data: [...brute(1, 3, 10), ...brute(1, 4, 10)] }] });
    // nested data, [n, 1], k and include_seen; both outputs by default; no id in, none out
    const nested = (await (await post('/v2/models/oip-mf/versions/2/infer', { parameters: { k: 5, include_seen: true }, inputs: [{ name: 'user', shape: [3, 1], datatype: 'INT64', data: [[7], [0], [7]] }] })).json()) as any;
    expect(nested.id).toBeUndefined();
    expect(nested.model_version).toBe('2');
    expect(nested.outputs.map((o: any) => [o.name, o.datatype, o.shape])).toEqual([['items', 'INT64', [3, 5]], ['scores', 'FP32', [3, 5]]]);
    expect(nested.outputs[0].data).toEqual([...brute(2, 7, 5, true), ...brute(2, 0, 5, true), ...brute(2, 7, 5, true)]);
    const { users, items } = tables[2]!;
    nested.outputs[1].data.slice(0, 5).forEach((s: number, j: number) => {
      const it = nested.outputs[0].data[j];
      expect(s).toBeCloseTo(users.subarray(7 * dim, 8 * dim).reduce((a, x, d) => a + x * items[it * dim + d]!, 0), 4);
    });
    for (const datatype of ['INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']) {
      const r = (await (await post('/v2/models/oip-mf/versions/1/infer', { inputs: [{ name: 'user', shape: [1], datatype, data: [5] }], parameters: { k: 3 }, outputs: [{ name: 'items' }] })).json()) as any;
      expect(r.outputs[0].data).toEqual(brute(1, 5, 3));
    }
    // k beyond the unseen items: -1 items and null scores pad the row
    const full = (await (await post('/v2/models/oip-mf/versions/1/infer', { inputs: [{ name: 'user', shape: [1], datatype: 'INT32', data: [1] }], parameters: { k: numItems } })).json()) as any;
    const seen = numItems - brute(1, 1, numItems).length;
    expect(seen).toBeGreaterThan(0);
    expect(full.outputs[0].data.slice(numItems - seen)).toEqual(Array(seen).fill(-1));
    expect(full.outputs[1].data.slice(numItems - seen)).toEqual(Array(seen).fill(null));
  });

  it('REST inference refuses bad tensors with 400 naming the tensor, unknown models with 404, and declines binary data', async () => {
    const infer = (body: unknown, headers?: Record<string, string>): Promise<Response> => post('/v2/models/oip-mf/versions/1/infer', body, headers);
    const user = (t: Record<string, unknown>): unknown => ({ inputs: [{ name: 'user', shape: [2], datatype: 'INT64', data: [1, 2], ...t }] });
    await refused(infer(user({ datatype: 'FP32' })), 400, /^inputs\[user\]\.datatype: user ids are integers/);
    await refused(infer(user({ datatype: 'INT65' })), 400, /^inputs\[user\]\.datatype: unknown datatype/);
    await refused(infer(user({ shape: [3] })), 400, /^inputs\[user\]\.data: 2 values, but shape \[3\] holds 3/);
    await refused(infer(user({ shape: [2, 2] })), 400, /^inputs\[user\]\.shape: must be \[n\] or \[n, 1\]/);
    await refused(infer(user({ shape: [2, 1], data: [[1], [2, 3]] })), 400, /^inputs\[user\]\.data\[1\]: nested data must match shape \[2, 1\]/);
    await refused(infer(user({ data: [1, 'x'] })), 400, /^inputs\[user\]\.data\[1\]: expected a number/);
    await refused(infer(user({ data: [1, 2.5] })), 400, /^inputs\[user\]\.data\[1\]: 2\.5 is not a INT64 value/);
    await refused(infer(user({ datatype: 'INT8', data: [1, 300] })), 400, /^inputs\[user\]\.data\[1\]: 300 is not a INT8 value/);
    await refused(infer(user({ datatype: 'UINT8', data: [-1, 2] })), 400, /^inputs\[user\]\.data\[0\]: -1 is not a UINT8 value/);
    await refused(infer(user({ data: [1, numUsers] })), 400, new RegExp(`^inputs\\[user\\]\\.data\\[1\\]: user ${numUsers} out of range`));
    await refused(infer(user({ name: 'item' })), 400, /^inputs\[0\]\.name: unknown input "item"/);
    await refused(infer({ inputs: [] }), 400, /^inputs: exactly one input tensor named "user"/);
    await refused(infer({ ...(user({}) as object), outputs: [{ name: 'logits' }] }), 400, /^outputs\[0\]\.name: unknown output "logits"/);
    await refused(infer({ ...(user({}) as object), parameters: { k: 0 } }), 400, /^parameters\.k: must be in \[1, /);
    await refused(infer({ ...(user({}) as object), parameters: { top: 3 } }), 400, /^parameters\.top: unknown parameter/);
    await refused(infer({ ...(user({}) as object), parameters: { binary_data_output: true } }), 400, /binary tensor data extension is not supported/);
    await refused(infer({ ...(user({}) as object), outputs: [{ name: 'items', parameters: { binary_data: true } }] }), 400, /binary tensor data extension is not supported/);
    await refused(infer('{"inputs":[]}', { 'inference-header-content-length': '13' }), 400, /binary tensor data extension/);
    await refused(infer('{"inputs": ['), 400, /^body: not valid JSON/);
    await refused(infer({ inputs: [{ name: 'user', shape: [501], datatype: 'INT64', data: Array(501).fill(0) }] }), 413, /501 users exceed the batch limit of 500/);
    await refused(infer('x'.repeat(9 << 20)), 413, /exceeds the limit/);
    await refused(post('/v2/models/nope/infer', user({})), 404, /nope/);
    await refused(post('/v2/models/oip-mf/versions/0/infer', user({})), 400, /^model_version: /);
    // the server still answers after all that
    expect((await infer(user({}))).status).toBe(200);
  });

  it('REST survives 300 mutated requests: each answered 200 or 4xx with the error object, never 5xx', async () => {
    const rng = new Rng(2026);
    const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)]!;
    const junk = (): unknown => pick<unknown>([null, true, -1, 0, 1.5, 2 ** 60, 'x', '', [], [[]], {}, { a: 1 }, Array(3).fill(1), 'INT64', [1, 2, 3]]);
    const valid = (): Record<string, any> => ({ id: 'r', parameters: { k: 3 }, inputs: [{ name: 'user', shape: [2], datatype: 'INT64', data: [1, 2] }], outputs: [{ name: 'items' }] });
    const paths = [['inputs', 0, 'data'], ['inputs', 0, 'shape'], ['inputs', 0, 'datatype'], ['inputs', 0, 'name'], ['inputs', 0, 'parameters'], ['inputs', 0], ['inputs'], ['parameters'], ['parameters', 'k'], ['outputs'], ['outputs', 0, 'name'], ['id'], ['inputs', 0, 'data', 1]];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      let body: string;
      if (i % 10 === 9) {
        // raw bytes: truncated or corrupted JSON
        const text = JSON.stringify(valid());
        body = text.slice(0, rng.int(text.length)) + String.fromCharCode(rng.int(128));
      } else {
        const req = valid();
        for (let m = 0; m <= rng.int(3); m++) {
          const path = pick(paths);
          let at: any = req;
          for (const key of path.slice(0, -1)) at = at?.[key as never];
          if (at && typeof at === 'object') {
            if (rng.int(4) === 0) delete at[path.at(-1) as never];
            else at[path.at(-1) as never] = junk();
          }
        }
        body = JSON.stringify(req);
      }
      const version = pick(['1', '', 'production', '0', 'x y', '99']);
      const res = await post(`/v2/models/oip-mf${version ? `/versions/${encodeURIComponent(version)}` : ''}/infer`, body);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = await res.text();
      if (res.status >= 500) throw new Error(`${res.status} for ${body.slice(0, 200)}: ${text}`);
      if (res.status !== 200) expect(Object.keys(JSON.parse(text) as object)).toEqual(['error']);
    }
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(100);
    expect((await get('/v2/health/live')).status).toBe(200);
  });

  it('gRPC: health, metadata and readiness from a client built from the .proto', async () => {
    expect(await rpc('ServerLive', {})).toEqual({ live: true });
    expect(await rpc('ServerReady', {})).toEqual({ ready: true });
    expect(await rpc('ServerMetadata', {})).toEqual({ name: 'robustrec', version: expect.any(String), extensions: [] });
    const meta = await rpc('ModelMetadata', { name: 'oip-mf', version: '' });
    expect(meta).toEqual({
      name: 'oip-mf', versions: ['1', '2'], platform: 'robustrec_mf',
      inputs: [{ name: 'user', datatype: 'INT64', shape: [-1] }],
      outputs: [{ name: 'items', datatype: 'INT64', shape: [-1, -1] }, { name: 'scores', datatype: 'FP32', shape: [-1, -1] }],
    });
    expect(await rpc('ModelReady', { name: 'oip-mf', version: '1' })).toEqual({ ready: true });
    // loaded by a REST request: both transports serve the same models
    expect(await rpc('ModelReady', { name: 'oip-mf', version: '2' })).toEqual({ ready: true });
    expect(await rpc('ModelReady', { name: 'nope', version: '' })).toEqual({ ready: false });
    await expect(rpc('ModelMetadata', { name: 'oip-mf', version: '9' })).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('gRPC inference: typed contents of every integer datatype, raw_input_contents, outputs selection, the same lists as REST', async () => {
    const field: Record<string, string> = { INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents', UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents' };
    for (const [datatype, f] of Object.entries(field)) {
      const r = await rpc('ModelInfer', { model_name: 'oip-mf', model_version: '1', id: datatype, parameters: { k: { int64_param: 4 } }, inputs: [{ name: 'user', datatype, shape: [2], contents: { [f]: [9, 2] } }] });
      expect(r.id).toBe(datatype);
      expect(r.model_version).toBe('1');
      const items = r.outputs.find((o: any) => o.name === 'items');
      expect([items.datatype, items.shape]).toEqual(['INT64', [2, 4]]);
      expect(items.contents.int64_contents).toEqual([...brute(1, 9, 4), ...brute(1, 2, 4)]);
    }
    // raw little-endian bytes: INT32 and UINT64, scores only
    const i32 = Buffer.alloc(8);
    i32.writeInt32LE(11, 0);
    i32.writeInt32LE(12, 4);
    const raw = await rpc('ModelInfer', { model_name: 'oip-mf', model_version: '1', inputs: [{ name: 'user', datatype: 'INT32', shape: [2, 1] }], raw_input_contents: [i32], outputs: [{ name: 'scores' }] });
    expect(raw.outputs.map((o: any) => [o.name, o.datatype, o.shape])).toEqual([['scores', 'FP32', [2, 10]]]);
    const u64 = Buffer.alloc(8);
    u64.writeBigUInt64LE(11n);
    const raw64 = await rpc('ModelInfer', { model_name: 'oip-mf', model_version: '1', inputs: [{ name: 'user', datatype: 'UINT64', shape: [1] }], raw_input_contents: [u64] });
    expect(raw64.outputs[0].contents.int64_contents).toEqual(brute(1, 11, 10));
    expect(raw64.outputs[1].contents.fp32_contents).toEqual(raw.outputs[0].contents.fp32_contents.slice(0, 10));
    // the REST binding answers the same lists and scores
    const rest = (await (await post('/v2/models/oip-mf/versions/1/infer', { inputs: [{ name: 'user', shape: [1], datatype: 'INT64', data: [11] }] })).json()) as any;
    expect(rest.outputs[0].data).toEqual(raw64.outputs[0].contents.int64_contents);
    rest.outputs[1].data.forEach((s: number, j: number) => expect(Math.fround(s)).toBe(raw64.outputs[1].contents.fp32_contents[j]));
  });

  it('batches of many users (the ranking threads) give each version its own lists, alternating versions', async () => {
    const users = Array.from({ length: numUsers }, (_, u) => u);
    // v1, v2, v1: the ranking helpers keep one packed item table per model and must not mix them
    for (const v of [1, 2, 1]) {
      const r = await rpc('ModelInfer', { model_name: 'oip-mf', model_version: String(v), parameters: { k: { int64_param: 7 }, include_seen: { bool_param: v === 2 } }, inputs: [{ name: 'user', datatype: 'INT64', shape: [numUsers], contents: { int64_contents: users } }], outputs: [{ name: 'items' }] });
      expect(r.outputs[0].shape).toEqual([numUsers, 7]);
      users.forEach((u) => expect(r.outputs[0].contents.int64_contents.slice(u * 7, u * 7 + 7)).toEqual(brute(v, u, 7, v === 2)));
    }
  });

  it('a NeuMF model: batches on the event loop equal single requests; tfjs export refused, npy offered', async () => {
    const d = 4;
    const w = 2 * d;
    const r = new Rng(21);
    const t = (n: number): Float32Array => Float32Array.from({ length: n }, () => r.normal());
    const shapes: Record<string, number[]> = { user_embedding: [numUsers, w], item_embedding: [numItems, w], mlp_w1: [w, d], mlp_b1: [d], mlp_w2: [d, d >> 1], mlp_b2: [d >> 1], output_h: [d + (d >> 1)] };
    const tensors = Object.fromEntries(Object.entries(shapes).map(([k, sh]) => [k, t(sh.reduce((a, b) => a * b, 1))]));
    const rc = createClient(evaluator.ModelRegistryServiceClient, evalSrv.address);
    const ds = (await call(rc, rc.getModel, { model: { id: '', name: 'oip-mf', version: 1, alias: '' } })).model!.datasetId;
    rc.close();
    await registerModel(evalSrv.address, {
      id: '', name: 'oip-neumf', version: 0, backbone: 'neumf', defense: 'none', datasetId: ds, jobId: '', numUsers, numItems,
      tensors: Object.entries(shapes).map(([name, shape]) => ({ name, shape })), metrics: [], provenance: undefined, sizeBytes: 0,
    }, tensors);
    const users = Array.from({ length: 40 }, (_, i) => (i * 7) % numUsers);
    const many = await rpc('ModelInfer', { model_name: 'oip-neumf', parameters: { k: { int64_param: 6 } }, inputs: [{ name: 'user', datatype: 'INT64', shape: [40], contents: { int64_contents: users } }] });
    const one = await Promise.all(users.slice(0, 10).map((u) => rpc('ModelInfer', { model_name: 'oip-neumf', parameters: { k: { int64_param: 6 } }, inputs: [{ name: 'user', datatype: 'INT64', shape: [1], contents: { int64_contents: [u] } }] })));
    one.forEach((o, i) => {
      expect(many.outputs[0].contents.int64_contents.slice(i * 6, i * 6 + 6)).toEqual(o.outputs[0].contents.int64_contents);
      for (const it of o.outputs[0].contents.int64_contents) expect(csrHas(train, users[i]!, it)).toBe(false);
    });
    const meta = await rpc('ModelMetadata', { name: 'oip-neumf', version: '' });
    expect(meta.platform).toBe('robustrec_neumf');
    const { header, tensors: back } = await downloadModel(evalSrv.address, { id: '', name: 'oip-neumf', version: 0, alias: '' });
    expect(() => tfjsFiles(header, back)).toThrow(/tfjs export covers dot-product models; use --format npy/);
    expect(Object.keys(npyFiles(header, back)).sort()).toEqual([...Object.keys(shapes).map((k) => `${k}.npy`), 'model.json'].sort());
  });

  it('gRPC inference refuses bad tensors with INVALID_ARGUMENT naming the tensor', async () => {
    const infer = (t: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<unknown> =>
      rpc('ModelInfer', { model_name: 'oip-mf', model_version: '1', inputs: [{ name: 'user', datatype: 'INT64', shape: [2], contents: { int64_contents: [1, 2] }, ...t }], ...extra });
    const bad = (p: Promise<unknown>, code: number, message: RegExp) => expect(p).rejects.toMatchObject({ code, details: expect.stringMatching(message) });
    await bad(infer({ datatype: 'INT32' }), status.INVALID_ARGUMENT, /^inputs\[user\]\.contents: INT32 data goes in int_contents, got int64_contents/);
    await bad(infer({ shape: [3] }), status.INVALID_ARGUMENT, /^inputs\[user\]\.contents\.int64_contents: 2 values, but shape \[3\] holds 3/);
    await bad(infer({ datatype: 'FP64', contents: { fp64_contents: [1, 2] } }), status.INVALID_ARGUMENT, /^inputs\[user\]\.datatype: user ids are integers/);
    await bad(infer({ shape: [1, 2] }), status.INVALID_ARGUMENT, /^inputs\[user\]\.shape: must be \[n\] or \[n, 1\]/);
    await bad(infer({ contents: undefined }, { raw_input_contents: [Buffer.alloc(12)] }), status.INVALID_ARGUMENT, /^raw_input_contents\[0\]: 12 bytes, but shape \[2\] of INT64 needs 16/);
    await bad(infer({}, { raw_input_contents: [Buffer.alloc(16)] }), status.INVALID_ARGUMENT, /^inputs\[user\]\.contents: give the data either as contents or as raw_input_contents/);
    await bad(infer({ contents: { int64_contents: [1, -4] } }), status.INVALID_ARGUMENT, /^inputs\[user\]\.data\[1\]: user -4 out of range/);
    await bad(infer({ name: 'users' }), status.INVALID_ARGUMENT, /^inputs\[0\]\.name: unknown input "users"/);
    await bad(infer({}, { outputs: [{ name: 'items', parameters: { binary_data: { bool_param: true } } }] }), status.INVALID_ARGUMENT, /binary tensor data extension is not supported/);
    await bad(infer({}, { parameters: { k: { string_param: 'ten' } } }), status.INVALID_ARGUMENT, /^parameters\.k: must be an integer/);
    await bad(rpc('ModelInfer', { model_name: 'nope', inputs: [{ name: 'user', datatype: 'INT64', shape: [1], contents: { int64_contents: [1] } }] }), status.NOT_FOUND, /nope/);
  });

  it('versions by alias: /versions/production follows SetAlias on both transports', async () => {
    const rc = createClient(evaluator.ModelRegistryServiceClient, evalSrv.address);
    await expect(call(rc, rc.setAlias, { name: 'oip-mf', alias: '7up', version: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^alias: /) });
    await expect(call(rc, rc.setAlias, { name: 'oip-mf', alias: 'latest', version: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(call(rc, rc.setAlias, { name: 'oip-mf', alias: 'production', version: 3 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(call(rc, rc.setAlias, { name: 'oip-mf', alias: 'production', version: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^version: /) });
    expect((await call(rc, rc.setAlias, { name: 'oip-mf', alias: 'production', version: 1, expectedVersion: 0 })).previousVersion).toBe(0);
    const viaRest = async (): Promise<string> => ((await (await post('/v2/models/oip-mf/versions/production/infer', { inputs: [{ name: 'user', shape: [1], datatype: 'INT64', data: [0] }] })).json()) as any).model_version;
    const viaGrpc = async (): Promise<string> => (await rpc('ModelInfer', { model_name: 'oip-mf', model_version: 'production', inputs: [{ name: 'user', datatype: 'INT64', shape: [1], contents: { int64_contents: [0] } }] })).model_version;
    expect([await viaRest(), await viaGrpc()]).toEqual(['1', '1']);
    await expect(call(rc, rc.setAlias, { name: 'oip-mf', alias: 'production', version: 2, expectedVersion: 2 })).rejects.toMatchObject({ code: 'ABORTED' });
    expect((await call(rc, rc.setAlias, { name: 'oip-mf', alias: 'production', version: 2, expectedVersion: 1 })).previousVersion).toBe(1);
    expect([await viaRest(), await viaGrpc()]).toEqual(['2', '2']);
    expect((await rpc('ModelInfer', { model_name: 'oip-mf', model_version: 'latest', inputs: [{ name: 'user', datatype: 'INT64', shape: [1], contents: { int64_contents: [0] } }] })).model_version).toBe('2');
    expect((await call(rc, rc.listAliases, { name: 'oip-mf' })).aliases.map((a) => [a.alias, a.version])).toEqual([['production', 2]]);
    expect((await get('/v2/models/oip-mf/versions/production/ready')).status).toBe(200);
    expect((await call(rc, rc.deleteAlias, { name: 'oip-mf', alias: 'production' })).alias!.version).toBe(2);
    await refused(post('/v2/models/oip-mf/versions/production/infer', { inputs: [{ name: 'user', shape: [1], datatype: 'INT64', data: [0] }] }), 404, /alias production/);
    rc.close();
  });
});
