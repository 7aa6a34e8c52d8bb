import { parseArgs } from 'node:util';
import { exitOnSignals } from '@robustrec/grpc';
import { startTrainerService } from './service';

// Standalone TrainerService: tsx services/trainer/src/main.ts --address 127.0.0.1:50053 --data 127.0.0.1:50051 --registry 127.0.0.1:50054
// SIGTERM drains (ROBUSTREC_SHUTDOWN_GRACE_MS): running jobs stop and stay RUNNING, to resume
// from their last checkpoint when a trainer starts on the same home; exits 0.
const { values } = parseArgs({
  options: {
    address: { type: 'string', default: process.env.ROBUSTREC_TRAINER_ADDRESS ?? '127.0.0.1:50053' },
    data: { type: 'string', default: process.env.ROBUSTREC_DATA_ADDRESS ?? '127.0.0.1:50051' },
    registry: { type: 'string', default: process.env.ROBUSTREC_EVALUATOR_ADDRESS ?? '127.0.0.1:50054' },
    home: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
  },
});
const srv = await startTrainerService({
  address: values.address,
  dataAddress: values.data!,
  registryAddress: values.registry!,
  home: values.home,
  concurrency: Number(values.concurrency),
});
console.log(`trainer service listening on ${srv.address}`);
exitOnSignals('trainer service', (grace) => srv.shutdown(grace));
