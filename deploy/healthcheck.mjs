// gRPC health probe for container healthchecks (docker compose), plain Node, no TypeScript
// loader: node deploy/healthcheck.mjs HOST:PORT [SERVICE]. It speaks plaintext: point it at the
// health-only port a service opens with ROBUSTREC_HEALTH_ADDRESS (the main port may be TLS-only). Exit 0 when grpc.health.v1 says
// SERVING for SERVICE ("" = the whole process), 1 otherwise (NOT_SERVING, unknown, no answer
// within 3 s). Kubernetes uses its native gRPC probes instead (deploy/k8s).
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

const [address, service = ''] = process.argv.slice(2);
if (!address) {
  console.error('usage: node deploy/healthcheck.mjs HOST:PORT [SERVICE]');
  process.exit(2);
}
const { Health } = loadPackageDefinition(loadSync(protoPath, { keepCase: true, enums: String })).grpc.health.v1;
const client = new Health(address, credentials.createInsecure());
client.Check({ service }, { deadline: Date.now() + 3000 }, (err, res) => {
  const status = err ? `error: ${err.details || err.message}` : res.status;
  console.log(`${address} ${service || '(all)'}: ${status}`);
  client.close();
  process.exit(status === 'SERVING' ? 0 : 1);
});
