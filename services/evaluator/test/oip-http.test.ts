import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetCache, ModelServer } from '../src/models';
import { Oip, refOf } from '../src/oip';
import { inferCallOf, startOipHttp } from '../src/oip-http';
import { ModelRegistry } from '../src/registry';

/** The HTTP binding's own behaviour (the protocol over real models: test/oip.e2e.test.ts). */
describe('OIP HTTP/REST binding', () => {
  it('server readiness follows Oip.ready (false until the service is ready and from a shutdown on); liveness does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rr-oip-'));
    const registry = new ModelRegistry(dir);
    // no model is ever loaded here, so the data service address is never dialled
    const server = new ModelServer(registry, new DatasetCache('127.0.0.1:1'));
    const oip = new Oip(registry, server, 100, Infinity);
    const http = await startOipHttp(oip);
    try {
      const status = async (p: string): Promise<number> => (await fetch(`http://${http.address}${p}`)).status;
      expect([await status('/v2/health/live'), await status('/v2/health/ready')]).toEqual([200, 400]);
      oip.ready = true;
      expect(await status('/v2/health/ready')).toBe(200);
      oip.ready = false;
      expect([await status('/v2/health/live'), await status('/v2/health/ready')]).toEqual([200, 400]);
      const meta = await fetch(`http://${http.address}/v2/models/none`);
      expect([meta.status, await meta.json()]).toEqual([404, { error: 'model not found: none' }]);
      // a malformed request line gets a 400 with the error object, and the server goes on
      const raw = await new Promise<string>((resolve) => {
        const s = connect(http.port, '127.0.0.1', () => s.write('NOT HTTP\r\n\r\n'));
        let got = '';
        s.on('data', (d) => (got += d.toString()));
        s.on('close', () => resolve(got));
      });
      expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request[\s\S]*\{"error":"malformed HTTP request"\}$/);
      expect(await status('/v2/health/live')).toBe(200);
    } finally {
      await http.close(1000);
      await server.close();
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes requests strictly and version strings by their kind', () => {
    expect(() => inferCallOf([], 'm', '')).toThrow(/^body: must be a JSON object/);
    expect(() => inferCallOf({ inputs: [], extra: 1 }, 'm', '')).toThrow(/^extra: unknown field/);
    expect(() => inferCallOf({ inputs: [{ name: 'user', shape: [1], datatype: 'INT64' }] }, 'm', '')).toThrow(/^inputs\[user\]\.data: is required/);
    expect(() => inferCallOf({ inputs: [{ name: 'user', shape: [-1], datatype: 'INT64', data: [] }] }, 'm', '')).toThrow(/^inputs\[user\]\.shape: must be an array of non-negative integers/);
    expect(() => inferCallOf({ inputs: [], parameters: { k: [1] } }, 'm', '')).toThrow(/^parameters\.k: must be a string, number or boolean/);
    // a deeply nested element is named, not stringified (which would overflow the stack)
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    const nested = inferCallOf({ inputs: [{ name: 'user', shape: [1], datatype: 'INT64', data: [deep] }] }, 'm', '');
    expect(() => nested.inputs[0]!.values('inputs[user]', 1)).toThrow(/^inputs\[user\]\.data\[0\]: nested data must match shape \[1\]|expected a number, got an array/);
    const call = inferCallOf({ id: 'x', inputs: [{ name: 'user', shape: [2, 1], datatype: 'INT32', data: [[1], [2]] }] }, 'm', '3');
    expect(Array.from(call.inputs[0]!.values('f', 2))).toEqual([1, 2]);
    expect(refOf('m', '')).toEqual({ id: '', name: 'm', version: 0, alias: '' });
    expect(refOf('m', '12')).toEqual({ id: '', name: 'm', version: 12, alias: '' });
    expect(refOf('m', 'staging')).toEqual({ id: '', name: 'm', version: 0, alias: 'staging' });
    expect(() => refOf('m', '012')).toThrow(/^version: must be a version number/);
    expect(() => refOf('m', 'a b')).toThrow(/^version: must be a letter/);
  });
});
