/**
 * Standalone orchestrator service (ExperimentService) against running services, the way
 * compose and Kubernetes run it:
 *   tsx services/orchestrator/src/serve.ts --address 0.0.0.0:50050 --data data:50051
 *     --evaluator evaluator:50054 --trainer dns:///trainer:50053 --attack dns:///attack:50052
 * --trainer / --attack take replica sources (replicas.ts): host:port lists, dns:///name:port
 * (A records of a headless Service) or srv:///_grpc._tcp.name (SRV records, stable pod names).
 * Each flag also reads its ROBUSTREC_* variable. SIGTERM stops without cancelling running
 * jobs: a restarted orchestrator marks those experiments interrupted and a re-submission
 * reattaches to their jobs.
 */
import { parseArgs } from 'node:util';
import { RrError } from '@robustrec/core';
import { exitOnSignals } from '@robustrec/grpc';
import { replicaSources } from './replicas';
import { startOrchestratorService } from './service';

const env = process.env;
const { values } = parseArgs({
  options: {
    address: { type: 'string', default: env.ROBUSTREC_ORCHESTRATOR_ADDRESS ?? '127.0.0.1:50050' },
    home: { type: 'string' },
    data: { type: 'string', default: env.ROBUSTREC_DATA_ADDRESS ?? '127.0.0.1:50051' },
    evaluator: { type: 'string', default: env.ROBUSTREC_EVALUATOR_ADDRESS ?? '127.0.0.1:50054' },
    trainer: { type: 'string', default: env.ROBUSTREC_TRAINER_ADDRESS ?? '127.0.0.1:50053' },
    attack: { type: 'string', default: env.ROBUSTREC_ATTACK_ADDRESS ?? '127.0.0.1:50052' },
    // a trainer failing this long while others serve is lost: its cells move
    'lost-after-ms': { type: 'string', default: env.ROBUSTREC_REPLICA_LOST_AFTER_MS ?? '30000' },
    'slots-per-trainer': { type: 'string', default: env.ROBUSTREC_SLOTS_PER_TRAINER ?? '1' },
  },
});
const lostAfterMs = Number(values['lost-after-ms']);
const slots = Number(values['slots-per-trainer']);
if (!(lostAfterMs >= 0)) throw new RrError('INVALID_ARGUMENT', `--lost-after-ms: expected milliseconds, got ${values['lost-after-ms']}`);
if (!Number.isInteger(slots) || slots < 1) throw new RrError('INVALID_ARGUMENT', `--slots-per-trainer: expected a positive integer, got ${values['slots-per-trainer']}`);
const srv = await startOrchestratorService({
  address: values.address,
  home: values.home,
  endpoints: { data: values.data!, evaluator: values.evaluator!, trainers: replicaSources(values.trainer), attackers: replicaSources(values.attack) },
  pool: { lostAfterMs, slots },
});
console.log(`orchestrator service listening on ${srv.address} (trainers: ${srv.trainers.live().join(', ') || 'none yet'})`);
exitOnSignals('orchestrator service', (grace) => srv.shutdown(grace));
