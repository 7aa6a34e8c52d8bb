// Probe for container healthchecks (docker compose), plain Node, no TypeScript loader:
//   node deploy/healthcheck.mjs HOST:PORT [SERVICE]   gRPC health
//   node deploy/healthcheck.mjs http(s)://HOST:PORT/PATH   an HTTP GET (the dashboard's /healthz)
// gRPC: it speaks plaintext: point it at the health-only port a service opens with ROBUSTREC_HEALTH_ADDRESS (the main port may be TLS-only). Exit 0 when grpc.health.v1 says
// SERVING for SERVICE ("" = the whole process), 1 otherwise (NOT_SERVING, unknown, no answer
// within 3 s). HTTP: exit 0 on a 2xx answer within 3 s, 1 otherwise. Kubernetes uses its native
// gRPC and httpGet probes instead (deploy/k8s).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as plainRequest } from 'node:http';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

const [address, service = ''] = process.argv.slice(2);
if (!address) {
  console.error('usage: node deploy/healthcheck.mjs HOST:PORT [SERVICE] | http(s)://HOST:PORT/PATH');
  process.exit(2);
}
if (/^https?:\/\//.test(address)) {
  // a PEM value of libs/grpc's configuration: inline text or a file path
  const pem = (v) => (v ? (/^-----BEGIN /.test(v.trim()) ? v : readFileSync(v)) : undefined);
  const env = process.env;
  const https = address.startsWith('https:');
  // the container's own loopback: liveness, not identity, is checked (as the kubelet's HTTPS
  // probes do), so the certificate's name is not verified; under mutual TLS it presents the
  // container's own certificate
  const req = (https ? request : plainRequest)(address, {
    timeout: 3000,
    ...(https ? { rejectUnauthorized: false, cert: pem(env.ROBUSTREC_TLS_CERT), key: pem(env.ROBUSTREC_TLS_KEY) } : {}),
  }, (res) => {
    res.resume();
    console.log(`${address}: HTTP ${res.statusCode}`);
    process.exit(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1);
  });
  const fail = (why) => {
    console.log(`${address}: ${why}`);
    process.exit(1);
  };
  req.on('timeout', () => fail('no answer within 3 s'));
  req.on('error', (e) => fail(`error: ${e.message}`));
  req.end();
} else {
  const { Health } = loadPackageDefinition(loadSync(protoPath, { keepCase: true, enums: String })).grpc.health.v1;
  const client = new Health(address, credentials.createInsecure());
  client.Check({ service }, { deadline: Date.now() + 3000 }, (err, res) => {
    const status = err ? `error: ${err.details || err.message}` : res.status;
    console.log(`${address} ${service || '(all)'}: ${status}`);
    client.close();
    process.exit(status === 'SERVING' ? 0 : 1);
  });
}
