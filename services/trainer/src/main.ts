import { parseArgs } from 'node:util';
import { startTrainerService } from './service';

// Standalone TrainerService: tsx services/trainer/src/main.ts --address 127.0.0.1:50053 --data 127.0.0.1:50051 --registry 127.0.0.1:50054
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
const stop = async (): Promise<void> => {
  await srv.shutdown();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
