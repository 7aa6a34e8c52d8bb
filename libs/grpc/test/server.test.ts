import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { scoring, trainer } from '@robustrec/contracts';
import { invalidArgument, notFound, RrError } from '@robustrec/core';
import type { Http2Server, ServerHttp2Stream } from 'node:http2';
import { call, checkHealth, createClient, fileContainingSymbol, iterate, listServices, releaseClosedStreams, serverStream, startServer, unary, type RunningServer } from '../src';

// A real server with a real (tiny) ScoringService implementation whose handlers throw
// platform errors: checks the plumbing every service shares.
describe('startServer', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    const impl: Partial<scoring.ScoringServiceServer> = {
      recommend: unary(async (req: scoring.RecommendRequest) => {
        if (req.k === 0) throw invalidArgument('k', 'must be > 0');
        if (req.user > 10) throw notFound('user', req.user);
        return { items: [1, 2], scores: [0.5, 0.25], modelId: 'm' };
      }),
    };
    srv = await startServer([{ name: 'robustrec.v1.ScoringService', definition: scoring.ScoringServiceService, implementation: impl as scoring.ScoringServiceServer }]);
    srv.markReady();
  });
  afterAll(() => srv.shutdown());

  it('maps platform errors to gRPC status codes', async () => {
    const c = createClient(scoring.ScoringServiceClient, srv.address);
    const ok = await call(c, c.recommend, { model: undefined, user: 1, k: 2, includeSeen: false });
    expect(ok.items).toEqual([1, 2]);
    await expect(call(c, c.recommend, { model: undefined, user: 1, k: 0, includeSeen: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('k: must be > 0') });
    await expect(call(c, c.recommend, { model: undefined, user: 99, k: 2, includeSeen: false })).rejects.toBeInstanceOf(RrError);
    await new Promise<void>((resolve) =>
      c.recommend({ model: undefined, user: 99, k: 2, includeSeen: false }, (err) => {
        expect(err?.code).toBe(status.NOT_FOUND);
        resolve();
      }),
    );
    c.close();
  });

  it("drops a finished call's stream listeners (so old-space references to the stream keep nothing else alive)", async () => {
    const http2Servers = (srv.server as unknown as { http2Servers: Map<Http2Server, unknown> }).http2Servers;
    const h = [...http2Servers.keys()][0]!;
    const listeners = h.listenerCount('stream');
    // startServer installed it already: true means this grpc-js still has the field the hook needs, and it is not added twice
    expect(releaseClosedStreams(srv.server)).toBe(true);
    expect(h.listenerCount('stream')).toBe(listeners);
    const seen: ServerHttp2Stream[] = [];
    const grab = (st: ServerHttp2Stream): void => void seen.push(st);
    h.on('stream', grab);
    const c = createClient(scoring.ScoringServiceClient, srv.address);
    await call(c, c.recommend, { model: undefined, user: 1, k: 2, includeSeen: false });
    h.off('stream', grab);
    c.close();
    const st = seen[0]!;
    if (!st.closed) await new Promise((r) => st.once('close', r));
    await new Promise((r) => setImmediate(r));
    expect(st.eventNames()).toEqual([]);
  });

  it('answers health checks and reflection', async () => {
    expect(await checkHealth(srv.address)).toBe('SERVING');
    expect(await checkHealth(srv.address, 'robustrec.v1.ScoringService')).toBe('SERVING');
    const services = await listServices(srv.address);
    expect(services).toContain('robustrec.v1.ScoringService');
    expect(services).toContain('grpc.health.v1.Health');
    expect(await fileContainingSymbol(srv.address, 'robustrec.v1.ScoringService')).toBeGreaterThan(0);
  });
});

describe('serverStream', () => {
  it('ends a failing stream with the error status instead of hanging', async () => {
    const impl = {
      watchJob: serverStream(async (req: { id: string }) => {
        throw notFound('job', req.id);
      }),
    };
    const srv = await startServer([{ name: 'robustrec.v1.TrainerService', definition: trainer.TrainerServiceService, implementation: impl as unknown as trainer.TrainerServiceServer }]);
    const c = createClient(trainer.TrainerServiceClient, srv.address);
    const consume = async (): Promise<void> => {
      for await (const _ of iterate(c.watchJob({ id: 'x' }, { deadline: Date.now() + 5000 }))) void _;
    };
    await expect(consume()).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('job not found: x') });
    c.close();
    await srv.shutdown();
  });
});
