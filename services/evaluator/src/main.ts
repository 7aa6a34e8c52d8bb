import { parseArgs } from 'node:util';
import { exitOnSignals } from '@robustrec/grpc';
import { parseRoles } from './registry-mirror';
import { startEvaluatorService } from './service';

// Standalone evaluator process: tsx services/evaluator/src/main.ts --address 127.0.0.1:50054 --data 127.0.0.1:50051 [--http 127.0.0.1:8000]
// SIGTERM drains (ROBUSTREC_SHUTDOWN_GRACE_MS) and exits 0.
const { values } = parseArgs({
  options: {
    address: { type: 'string', default: process.env.ROBUSTREC_EVALUATOR_ADDRESS ?? '127.0.0.1:50054' },
    data: { type: 'string', default: process.env.ROBUSTREC_DATA_ADDRESS ?? '127.0.0.1:50051' },
    home: { type: 'string' },
    // roles: evaluator, registry, scoring, inference (default all); a scoring replica names the registry
    serve: { type: 'string', default: process.env.ROBUSTREC_EVALUATOR_ROLES },
    registry: { type: 'string', default: process.env.ROBUSTREC_REGISTRY_ADDRESS },
    // the Open Inference Protocol over HTTP/REST, e.g. 127.0.0.1:8000 (unset or "off": gRPC only)
    http: { type: 'string', default: process.env.ROBUSTREC_EVALUATOR_HTTP_ADDRESS ?? '' },
  },
});
const roles = parseRoles(values.serve);
const http = values.http && values.http !== 'off' ? values.http : undefined;
const srv = await startEvaluatorService({ address: values.address, dataAddress: values.data!, home: values.home, roles, registryAddress: values.registry, httpAddress: http });
console.log(
  `evaluator service (${roles.join(', ')}${values.registry ? `; models from ${values.registry}` : ''}) listening on ${srv.address}${srv.httpAddress ? `; inference v2 HTTP/REST on http://${srv.httpAddress}/v2` : ''}`,
);
exitOnSignals('evaluator service', (grace) => srv.shutdown(grace));
