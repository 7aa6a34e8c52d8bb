import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { data, trainer } from '@robustrec/contracts';
import { call, checkHealth, createClient, startServer, unary, watchHealth } from '../src';

const TRAINER = 'robustrec.v1.TrainerService';
const DATA = 'robustrec.v1.DataService';

/** A server with two services whose GetJob / GetDataset answer when `release` is called. */
async function twoServices() {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const srv = await startServer([
    {
      name: TRAINER,
      definition: trainer.TrainerServiceService,
      implementation: { getJob: unary(async (req: { id: string }) => (await gate, trainer.GetJobResponse.fromPartial({ job: { id: req.id } }))) } as unknown as trainer.TrainerServiceServer,
    },
    {
      name: DATA,
      definition: data.DataServiceService,
      implementation: { getDataset: unary(async (req: { id: string }) => (await gate, { dataset: data.Dataset.fromPartial({ id: req.id }) })) } as unknown as data.DataServiceServer,
    },
  ]);
  return { srv, release };
}

describe('readiness and graceful shutdown (Lifecycle)', () => {
  it('reports NOT_SERVING until a service is marked ready, each name on its own, "" once all are', async () => {
    const { srv, release } = await twoServices();
    release();
    const statuses = async (): Promise<string[]> => Promise.all(['', TRAINER, DATA].map((s) => checkHealth(srv.address, s)));
    expect(await statuses()).toEqual(['NOT_SERVING', 'NOT_SERVING', 'NOT_SERVING']);
    srv.markReady([TRAINER]);
    expect(await statuses()).toEqual(['NOT_SERVING', 'SERVING', 'NOT_SERVING']);
    srv.markReady([DATA]);
    expect(await statuses()).toEqual(['SERVING', 'SERVING', 'SERVING']);
    await expect(checkHealth(srv.address, 'robustrec.v1.Nope')).rejects.toMatchObject({ code: status.NOT_FOUND });
    expect(() => srv.markReady(['robustrec.v1.Nope'])).toThrow(/not served here/);
    await srv.shutdown();
  });

  it('drains: health goes NOT_SERVING, the call in flight completes, open Watch streams end, new calls are refused', async () => {
    const { srv, release } = await twoServices();
    srv.markReady();
    const seen: string[] = [];
    const watch = watchHealth(srv.address, '', (s) => seen.push(s));
    await expect.poll(() => seen).toEqual(['SERVING']);
    const c = createClient(trainer.TrainerServiceClient, srv.address);
    const inflight = call(c, c.getJob, { id: 'j1' });
    await expect.poll(() => srv.lifecycle.callsInFlight).toBe(1);
    const t0 = performance.now();
    const stopped = srv.shutdown(10_000);
    // the Watch has been told NOT_SERVING and ended with UNAVAILABLE while the call still runs
    expect(await watch.ended).toMatchObject({ code: status.UNAVAILABLE });
    expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
    expect(srv.lifecycle.callsInFlight).toBe(1);
    release();
    expect((await inflight).job?.id).toBe('j1');
    await stopped;
    expect(performance.now() - t0).toBeLessThan(5_000); // not the grace period
    c.close();
    const late = createClient(trainer.TrainerServiceClient, srv.address);
    await expect(call(late, late.getJob, { id: 'j2' }, { deadlineMs: 2000 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    late.close();
  });

  it('cancels what is still running when the grace period is over', async () => {
    const { srv } = await twoServices();
    srv.markReady();
    const c = createClient(data.DataServiceClient, srv.address);
    const never = call(c, c.getDataset, { id: 'd' });
    never.catch(() => undefined);
    await expect.poll(() => srv.lifecycle.callsInFlight).toBe(1);
    const t0 = performance.now();
    await srv.shutdown(300);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3_000);
    await expect(never).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('300 ms grace period') });
    c.close();
  });
});
