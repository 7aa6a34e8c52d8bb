import { parseArgs } from 'node:util';
import { exitOnSignals } from '@robustrec/grpc';
import { startEvaluatorService } from './service';

// Standalone evaluator process: tsx services/evaluator/src/main.ts --address 127.0.0.1:50054 --data 127.0.0.1:50051
// SIGTERM drains (ROBUSTREC_SHUTDOWN_GRACE_MS) and exits 0.
const { values } = parseArgs({
  options: {
    address: { type: 'string', default: process.env.ROBUSTREC_EVALUATOR_ADDRESS ?? '127.0.0.1:50054' },
    data: { type: 'string', default: process.env.ROBUSTREC_DATA_ADDRESS ?? '127.0.0.1:50051' },
    home: { type: 'string' },
  },
});
const srv = await startEvaluatorService({ address: values.address, dataAddress: values.data!, home: values.home });
console.log(`evaluator service (evaluator, registry, scoring, inference v2) listening on ${srv.address}`);
exitOnSignals('evaluator service', (grace) => srv.shutdown(grace));
