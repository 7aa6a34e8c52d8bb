import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { credentials, makeGenericClientConstructor, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { data, evaluator, scoring, trainer } from '@robustrec/contracts';
import { RrError } from '@robustrec/core';
import {
  allowPathsUnder,
  call,
  clientStream,
  configureDeadlines,
  createClient,
  DEFAULT_DEADLINES_S,
  descriptors,
  fromServiceError,
  MAX_STATUS_MESSAGE,
  peerClient,
  publicMessage,
  requestStream,
  serverStream,
  startServer,
  toStatus,
  unary,
  type RunningServer,
} from '../src';

/** Bytes of a request built from the descriptors (bigints allowed where the generated code refuses them). */
const encodeAs = (type: string, init: object): Buffer => {
  const desc = descriptors().registry.getMessage(type)!;
  return Buffer.from(toBinary(desc, create(desc, init as never)));
};

/** A client that sends raw request bytes, to say what the typed clients cannot. */
type RawClient = Client & Record<string, Function>;
function rawClient(address: string, path: string, requestStream: boolean, responseStream: boolean): RawClient {
  const id = (b: Buffer): Buffer => b;
  const Ctor = makeGenericClientConstructor({ m: { path, requestStream, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } }, 'raw');
  return new Ctor(address, credentials.createInsecure()) as unknown as RawClient;
}
const unaryRaw = (address: string, path: string, body: Buffer): Promise<{ code: number; details: string }> =>
  new Promise((resolve) => {
    const c = rawClient(address, path, false, false);
    c.m(body, (err: ServiceError | null) => {
      c.close();
      resolve({ code: err?.code ?? 0, details: err?.details ?? '' });
    });
  });

describe('request guard: every served method decodes without throwing', () => {
  let srv: RunningServer;
  const seen: unknown[] = [];
  beforeAll(async () => {
    const trainerImpl: Partial<trainer.TrainerServiceServer> = {
      startJob: unary(async (req: trainer.StartJobRequest) => {
        seen.push(req);
        return { job: undefined };
      }),
      listJobs: unary(async () => ({ jobs: [] })),
      watchJob: serverStream(async () => undefined),
    };
    const registryImpl: Partial<evaluator.ModelRegistryServiceServer> = {
      registerModel: clientStream(async (messages: AsyncIterable<evaluator.RegisterModelRequest>) => {
        for await (const m of messages) seen.push(m);
        return { model: undefined };
      }),
    };
    const scoringImpl: Partial<scoring.ScoringServiceServer> = {
      recommendStream: requestStream<scoring.RecommendStreamRequest, scoring.RecommendStreamResponse>(
        async () => ({ response: { items: [1], scores: [1], modelId: 'm' }, errorCode: 0, errorMessage: '' }),
        (st) => ({ response: undefined, errorCode: st.code ?? 13, errorMessage: st.details ?? '' }),
      ),
    };
    srv = await startServer([
      { name: 'robustrec.v1.TrainerService', definition: trainer.TrainerServiceService, implementation: trainerImpl as trainer.TrainerServiceServer },
      { name: 'robustrec.v1.ModelRegistryService', definition: evaluator.ModelRegistryServiceService, implementation: registryImpl as evaluator.ModelRegistryServiceServer },
      { name: 'robustrec.v1.ScoringService', definition: scoring.ScoringServiceService, implementation: scoringImpl as scoring.ScoringServiceServer },
    ]);
  });
  afterAll(() => srv.shutdown());

  it('unary: a uint64 above 2^53 is INVALID_ARGUMENT naming the field (was INTERNAL "Error deserializing request")', async () => {
    const body = encodeAs('robustrec.v1.StartJobRequest', { datasetId: 'ds', config: { seed: 2n ** 64n - 1n } });
    const r = await unaryRaw(srv.address, '/robustrec.v1.TrainerService/StartJob', body);
    expect(r).toEqual({ code: status.INVALID_ARGUMENT, details: 'config.seed: 18446744073709551615 is outside the supported integer range ±(2^53 - 1)' });
    expect(seen).toEqual([]); // the handler never ran
  });

  it('unary: truncated and garbage messages are INVALID_ARGUMENT "request: could not be decoded (...)"', async () => {
    const body = encodeAs('robustrec.v1.StartJobRequest', { datasetId: 'ds_0123', name: 'x' });
    for (const bad of [body.subarray(0, body.length - 1), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.from([0x0f])]) {
      const r = await unaryRaw(srv.address, '/robustrec.v1.TrainerService/StartJob', bad);
      expect(r.code).toBe(status.INVALID_ARGUMENT);
      expect(r.details).toMatch(/^request: could not be decoded \(.+\)$/);
    }
  });

  it('a 100,000-character id is refused at once, by field name, without being echoed', async () => {
    const body = encodeAs('robustrec.v1.StartJobRequest', { datasetId: 'A'.repeat(100_000) });
    const r = await unaryRaw(srv.address, '/robustrec.v1.TrainerService/StartJob', body);
    expect(r).toEqual({ code: status.INVALID_ARGUMENT, details: 'dataset_id: too long: 100000 characters, at most 256' });
    // map keys and nested strings are capped too
    const nested = encodeAs('robustrec.v1.StartJobRequest', { datasetId: 'ds', config: { backbone: { name: 'mf', params: { ['k'.repeat(300)]: 1 } } } });
    expect((await unaryRaw(srv.address, '/robustrec.v1.TrainerService/StartJob', nested)).details).toBe('config.backbone.params: a key is too long: 300 characters, at most 256');
  });

  it('an enum value the contract does not define is INVALID_ARGUMENT', async () => {
    const r = await unaryRaw(srv.address, '/robustrec.v1.TrainerService/ListJobs', Buffer.from([0x08, 99]));
    expect(r).toEqual({ code: status.INVALID_ARGUMENT, details: 'state: 99 is not a JobState value' });
  });

  it('server, client and bidirectional streams answer undecodable messages INVALID_ARGUMENT too', async () => {
    const garbage = Buffer.from([0x0a, 0x05, 0x01]); // field 1, length 5, 1 byte: premature end
    // server stream
    const ss = rawClient(srv.address, '/robustrec.v1.TrainerService/WatchJob', false, true);
    const sErr = await new Promise<ServiceError>((resolve) => ss.m(garbage).on('error', resolve).on('data', () => undefined));
    expect(sErr.code).toBe(status.INVALID_ARGUMENT);
    expect(sErr.details).toMatch(/^request: could not be decoded/);
    ss.close();
    // client stream: a valid header, then garbage
    const cs = rawClient(srv.address, '/robustrec.v1.ModelRegistryService/RegisterModel', true, false);
    const cErr = await new Promise<ServiceError | null>((resolve) => {
      const st = cs.m((err: ServiceError | null) => resolve(err));
      st.write(encodeAs('robustrec.v1.RegisterModelRequest', { payload: { case: 'header', value: { name: 'm' } } }));
      st.write(garbage);
      st.end();
    });
    expect(cErr?.code).toBe(status.INVALID_ARGUMENT);
    cs.close();
    // bidirectional: the bad request gets an in-band error, the stream goes on
    const bs = rawClient(srv.address, '/robustrec.v1.ScoringService/RecommendStream', true, true);
    const answers: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const st = bs.m();
      st.on('data', (b: Buffer) => answers.push(b));
      st.on('end', resolve);
      st.on('error', reject);
      st.write(garbage);
      st.write(encodeAs('robustrec.v1.RecommendStreamRequest', { request: { user: 1, k: 1 } }));
      st.end();
    });
    bs.close();
    const decoded = answers.map((b) => scoring.RecommendStreamResponse.decode(b));
    expect(decoded.map((d) => d.errorCode)).toEqual([status.INVALID_ARGUMENT, 0]);
    expect(decoded[0]!.errorMessage).toMatch(/^request: could not be decoded/);
  });

  it('health and reflection requests go through the guard as well', async () => {
    const r = await unaryRaw(srv.address, '/grpc.health.v1.Health/Check', Buffer.from([0x08, 0xff]));
    expect(r.code).toBe(status.INVALID_ARGUMENT);
    const long = await unaryRaw(srv.address, '/grpc.health.v1.Health/Check', encodeAs('grpc.health.v1.HealthCheckRequest', { service: 'x'.repeat(5000) }));
    expect(long).toEqual({ code: status.INVALID_ARGUMENT, details: 'service: too long: 5000 characters, at most 256' });
    // found by the fuzzer: grpc-health-check echoes the service name into NOT_FOUND; its
    // messages now get the same cleaning as ours
    const echoed = await unaryRaw(srv.address, '/grpc.health.v1.Health/Check', encodeAs('grpc.health.v1.HealthCheckRequest', { service: '/etc/passwd' }));
    expect(echoed).toEqual({ code: status.NOT_FOUND, details: 'Health status unknown for service …/passwd' });
  });
});

describe('status messages', () => {
  it('unexpected errors are INTERNAL with a generic text; the detail goes to the log only', () => {
    const e = new RangeError('Invalid typed array length: 17179869180');
    const st = toStatus(e);
    expect(st.code).toBe(status.INTERNAL);
    expect(st.details).toMatch(/^internal error \(reference [0-9a-f]{8} in the service log\)$/);
  });

  it('never carry stack traces or paths outside the data roots, and are capped at 1 KiB', () => {
    allowPathsUnder(['/work']);
    const m = publicMessage("open failed: ENOENT: no such file or directory, open '/etc/shadow'\n    at Object.openSync (node:fs:573:18)\n    at x (/tmp/a.ts:3:1)");
    expect(m).toBe("open failed: ENOENT: no such file or directory, open '…/shadow'");
    expect(publicMessage('train.txt:3: not a number (/work/data/train.txt)')).toBe('train.txt:3: not a number (/work/data/train.txt)');
    expect(publicMessage('method /robustrec.v1.DataService/GetDataset failed')).toBe('method /robustrec.v1.DataService/GetDataset failed');
    const long = publicMessage('x'.repeat(5000));
    expect(long.length).toBe(MAX_STATUS_MESSAGE);
    expect(long.endsWith('…')).toBe(true);
    expect(toStatus(new RrError('NOT_FOUND', `dataset not found: ${'A'.repeat(100_000)}`)).details!.length).toBe(MAX_STATUS_MESSAGE);
  });

  it("a peer's codes survive (UNKNOWN, DATA_LOSS, OUT_OF_RANGE...), and its UNIMPLEMENTED is not forwarded as ours", () => {
    for (const code of [status.UNKNOWN, status.DATA_LOSS, status.OUT_OF_RANGE]) expect(toStatus(fromServiceError({ code, details: 'x' })).code).toBe(code);
    const e = fromServiceError({ code: status.UNIMPLEMENTED, details: 'The server does not implement the method /a.B/C' }, undefined, '10.0.0.1:50051 /a.B/C');
    expect(e.code).toBe('FAILED_PRECONDITION');
    expect(e.message).toBe('dependency 10.0.0.1:50051 /a.B/C does not implement the method (UNIMPLEMENTED: The server does not implement the method /a.B/C)');
  });

  it('a dependency without the RPC is FAILED_PRECONDITION naming it (real server)', async () => {
    const srv = await startServer([{ name: 'robustrec.v1.DataService', definition: data.DataServiceService, implementation: {} as data.DataServiceServer }]);
    const c = createClient(data.DataServiceClient, srv.address);
    await expect(call(c, c.getDataset, { id: 'ds_x' })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining(`dependency ${srv.address} /robustrec.v1.DataService/GetDataset does not implement the method`),
    });
    c.close();
    await srv.shutdown();
  });
});

describe('outbound calls', () => {
  afterEach(() => configureDeadlines({ ...DEFAULT_DEADLINES_S }));

  it('every call has a deadline from the policy; a peer client whose call hung is replaced, not reused', async () => {
    const hung: Array<() => void> = [];
    const srv = await startServer([
      {
        name: 'robustrec.v1.DataService',
        definition: data.DataServiceService,
        implementation: { getDataset: unary(() => new Promise((r) => hung.push(() => r({ dataset: undefined })))) } as unknown as data.DataServiceServer,
      },
    ]);
    configureDeadlines({ lookup: 0.3 });
    const c = peerClient(data.DataServiceClient, srv.address);
    expect(peerClient(data.DataServiceClient, srv.address)).toBe(c);
    const t0 = performance.now();
    await expect(call(c, c.getDataset, { id: 'ds_x' })).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(performance.now() - t0).toBeLessThan(3000);
    const fresh = peerClient(data.DataServiceClient, srv.address);
    expect(fresh).not.toBe(c);
    for (const f of hung) f();
    await srv.shutdown(100);
  });

  it('ROBUSTREC_DEADLINES must be kind=seconds pairs', () => {
    expect(() => configureDeadlines({ lookup: Number.NaN })).toThrow(RrError);
    expect(() => configureDeadlines({ lookup: -1 })).toThrow(/ROBUSTREC_DEADLINES/);
  });

  it('a server refuses requests above its receive limit with RESOURCE_EXHAUSTED', async () => {
    const srv = await startServer([{ name: 'robustrec.v1.TrainerService', definition: trainer.TrainerServiceService, implementation: { listJobs: unary(async () => ({ jobs: [] })) } as unknown as trainer.TrainerServiceServer }], '127.0.0.1:0', { maxReceiveMessageBytes: 1024 });
    const r = await unaryRaw(srv.address, '/robustrec.v1.TrainerService/ListJobs', Buffer.alloc(2048));
    expect(r.code).toBe(status.RESOURCE_EXHAUSTED);
    await srv.shutdown();
  });
});
