import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:https';
import { DatasetCache, ModelRegistry, ModelServer, Oip, startOipHttp } from '@robustrec/evaluator-service';
import type { SecurityConfig } from '@robustrec/grpc';
import { makeDevCerts, type DevCerts } from './certs';
import { tempDir } from './helpers';

/**
 * The OIP REST binding under the platform's security configuration: HTTPS only when the
 * process has a certificate, client certificates under mutual TLS, and the bearer token on
 * every endpoint but health when reads are protected (a REST port must not be the way around
 * the gRPC port's checks).
 */
describe('OIP HTTP/REST binding with TLS and a token', () => {
  const tmp = tempDir('rr-oip-sec-');
  let certs: DevCerts;
  let registry: ModelRegistry;
  let server: ModelServer;
  beforeAll(async () => {
    certs = await makeDevCerts();
    registry = new ModelRegistry(tmp.dir);
    server = new ModelServer(registry, new DatasetCache('127.0.0.1:1'));
  });
  afterAll(async () => {
    await server?.close();
    registry?.close();
    tmp.cleanup();
  });

  type Answer = { status: number; body: string } | { error: string };
  const get = (port: number, path: string, o: { ca?: string; cert?: string; key?: string; token?: string } = {}): Promise<Answer> =>
    new Promise((resolve) => {
      const req = request(
        { host: '127.0.0.1', port, path, ca: o.ca, cert: o.cert, key: o.key, servername: 'localhost', headers: o.token ? { authorization: `Bearer ${o.token}` } : {} },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
      req.end();
    });

  it('serves HTTPS with the bearer token on protected reads; health stays open; wrong or missing tokens are refused without echo', async () => {
    const sec: SecurityConfig = { tls: { cert: Buffer.from(certs.cert), key: Buffer.from(certs.key), ca: Buffer.from(certs.ca) }, token: 'rest-token-1', protectReads: true };
    const oip = new Oip(registry, server, 100, Infinity);
    oip.ready = true;
    const http = await startOipHttp(oip, { security: sec });
    try {
      const ca = certs.ca;
      expect(await get(http.port, '/v2/health/ready', { ca })).toMatchObject({ status: 200 });
      const none = await get(http.port, '/v2', { ca });
      expect(none).toMatchObject({ status: 401 });
      const wrong = await get(http.port, '/v2/models/m', { ca, token: 'guess' });
      expect(wrong).toMatchObject({ status: 403 });
      expect((wrong as { body: string }).body).not.toContain('rest-token-1');
      expect(await get(http.port, '/v2', { ca, token: 'rest-token-1' })).toMatchObject({ status: 200 });
      expect(await get(http.port, '/v2/models/m', { ca, token: 'rest-token-1' })).toMatchObject({ status: 404 });
      // plaintext HTTP to the TLS port is not served
      const plain = await fetch(`http://127.0.0.1:${http.port}/v2/health/live`).then(
        (r) => r.status,
        () => 'refused',
      );
      expect(plain).not.toBe(200);
    } finally {
      await http.close(1000);
    }
  });

  it('under mutual TLS refuses a client without a certificate', async () => {
    const sec: SecurityConfig = { tls: { cert: Buffer.from(certs.cert), key: Buffer.from(certs.key), ca: Buffer.from(certs.ca), requireClientCert: true } };
    const oip = new Oip(registry, server, 100, Infinity);
    const http = await startOipHttp(oip, { security: sec });
    try {
      expect(await get(http.port, '/v2/health/live', { ca: certs.ca })).toHaveProperty('error');
      expect(await get(http.port, '/v2/health/live', { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey })).toMatchObject({ status: 200 });
    } finally {
      await http.close(1000);
    }
  });
});
