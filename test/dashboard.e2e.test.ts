import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform, startOrchestratorService, type Platform } from '@robustrec/orchestrator-service';
import { startDashboard, type RunningDashboard } from '@robustrec/dashboard';

/**
 * The dashboard's HTTP layer against real services on loopback: it only reads, bounds what it
 * is given, maps the services' status codes, keeps to the addresses it was started with, and
 * holds the platform's token where reads are protected.
 */
describe('dashboard HTTP layer', () => {
  const home = mkdtempSync(join(tmpdir(), 'rr-dash-'));
  let platform: Platform;
  let orch: Awaited<ReturnType<typeof startOrchestratorService>>;
  let open: RunningDashboard;
  let locked: RunningDashboard;
  const get = async (d: RunningDashboard, path: string, init: RequestInit = {}): Promise<{ status: number; body: { code?: string; error?: string } & Record<string, unknown> }> => {
    const res = await fetch(new URL(path, d.url), init);
    const text = await res.text();
    return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : { text } };
  };

  beforeAll(async () => {
    platform = await startPlatform({ home });
    orch = await startOrchestratorService({ home, endpoints: platform.endpoints });
    const endpoints = { orchestrator: orch.address, data: platform.endpoints.data, evaluator: platform.endpoints.evaluator, trainers: platform.endpoints.trainers };
    open = await startDashboard({ endpoints });
    locked = await startDashboard({ endpoints, security: { protectReads: true, token: 'tok-one', acceptTokens: ['tok-two'] } });
  }, 60_000);
  afterAll(async () => {
    await open?.close();
    await locked?.close();
    await orch?.shutdown();
    await platform?.shutdown();
    rmSync(home, { recursive: true, force: true });
  });

  it('serves the app and answers the API with the services\' data', async () => {
    const page = await fetch(open.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    const app = await fetch(new URL('/app.js', open.url));
    expect(app.headers.get('content-type')).toContain('javascript');
    expect((await app.text()).length).toBeGreaterThan(100_000); // vega + vega-lite + the app
    // its font too (offline: no CDN), and nothing but the fonts it has
    const font = await fetch(new URL('/fonts/DejaVuSans.ttf', open.url));
    expect([font.status, font.headers.get('content-type')]).toEqual([200, 'font/ttf']);
    expect(Buffer.from(await font.arrayBuffer()).subarray(0, 4)).toEqual(Buffer.from([0, 1, 0, 0]));
    expect((await fetch(new URL('/fonts/..%2Fpackage.json', open.url))).status).toBe(404);
    expect((await get(open, '/api/specs')).body).toEqual({});
    // the probes' endpoint (kubelet, compose): it answers without asking the services
    expect(await get(open, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    const h = await get(open, '/api/health');
    expect(h.body).toMatchObject({ orchestrator: 'SERVING', data: 'SERVING', evaluator: 'SERVING', trainers: ['SERVING'] });
  });

  it('maps errors to HTTP codes with messages naming the field, and only reads', async () => {
    expect(await get(open, '/api/results/no-such-spec')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(await get(open, '/api/experiments/exp_nope')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(await get(open, '/api/models/nope')).toMatchObject({ status: 404 });
    expect(await get(open, `/api/results/${'x'.repeat(300)}`)).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^spec: longer than 256/) } });
    expect(await get(open, '/api/try?model=m&user=-1')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^user: /) } });
    expect(await get(open, '/api/try?model=m&user=1&k=100000')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^k: expected an integer in \[1, 200\]/) } });
    expect(await get(open, '/api/try?model=m&user=1&targets=1,x')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^targets\[1\]/) } });
    expect(await get(open, '/api/models/m/projection?sample=6000')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^sample: /) } });
    expect(await get(open, '/etc/passwd')).toMatchObject({ status: 404 });
    expect(await get(open, '/api/../../etc/passwd')).toMatchObject({ status: 404 });
    for (const method of ['POST', 'PUT', 'DELETE']) expect(await get(open, '/api/specs', { method })).toMatchObject({ status: 405 });
  });

  it('needs a platform token where reads are protected (header or cookie), never for the app shell', async () => {
    expect((await fetch(locked.url)).status).toBe(200);
    // probes carry no token
    expect(await get(locked, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await get(locked, '/api/specs')).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
    const wrong = await get(locked, '/api/specs', { headers: { authorization: 'Bearer guess' } });
    expect(wrong).toMatchObject({ status: 403 });
    expect(JSON.stringify(wrong.body)).not.toContain('tok-');
    expect((await get(locked, '/api/specs', { headers: { authorization: 'Bearer tok-one' } })).status).toBe(200);
    expect((await get(locked, '/api/specs', { headers: { cookie: 'other=1; robustrec_token=tok-two' } })).status).toBe(200);
    expect((await get(locked, '/api/experiments/x/events')).status).toBe(401);
  });
});
