import { parseArgs } from 'node:util';
import { exitOnSignals } from '@robustrec/grpc';
import { startEvaluatorService } from './service';

// Standalone evaluator process: tsx services/evaluator/src/main.ts --address 127.0.0.1:50054 --data 127.0.0.1:50051 [--http 127.0.0.1:8000]
// SIGTERM drains (ROBUSTREC_SHUTDOWN_GRACE_MS) and exits 0.
const { values } = parseArgs({
  options: {
    address: { type: 'string', default: process.env.ROBUSTREC_EVALUATOR_ADDRESS ?? '127.0.0.1:50054' },
    data: { type: 'string', default: process.env.ROBUSTREC_DATA_ADDRESS ?? '127.0.0.1:50051' },
    home: { type: 'string' },
    // the Open Inference Protocol over HTTP/REST, e.g. 127.0.0.1:8000 (unset or "off": gRPC only)
    http: { type: 'string', default: process.env.ROBUSTREC_EVALUATOR_HTTP_ADDRESS ?? '' },
  },
});
const http = values.http && values.http !== 'off' ? values.http : undefined;
const srv = await startEvaluatorService({ address: values.address, dataAddress: values.data!, home: values.home, httpAddress: http });
console.log(`evaluator service (evaluator, registry, scoring, inference v2) listening on ${srv.address}${srv.httpAddress ? `; inference v2 HTTP/REST on http://${srv.httpAddress}/v2` : ''}`);
exitOnSignals('evaluator service', (grace) => srv.shutdown(grace));
