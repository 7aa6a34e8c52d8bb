/**
 * Standalone dashboard (the web app and its JSON/SSE API) against running services, the way
 * compose and Kubernetes run it:
 *   tsx services/dashboard/src/serve.ts --address 0.0.0.0:8080 --orchestrator orchestrator:50050
 *     --data data:50051 --evaluator evaluator:50054 --trainer trainer-0:50053,trainer-1:50053 [--scoring scoring:50054]
 * Each flag also reads its ROBUSTREC_* variable; TLS and the token come from the process's
 * configuration (libs/grpc security.ts), and with ROBUSTREC_TLS_CERT/KEY it serves HTTPS.
 * --trainer is a plain host:port list, one entry per trainer replica: a cell's training curve
 * is read from the trainer that ran its job (GetJob), and a dns:/// name would spread those
 * calls over whichever pods answer. Replica discovery (dns:///, srv:///) lives in the
 * orchestrator's package, which depends on this one, so it is not used here: cells trained on
 * a trainer missing from the list show no training curve (everything else is unaffected).
 * GET /healthz answers probes. SIGTERM closes the listener (it holds no state).
 */
import { parseArgs } from 'node:util';
import { RrError } from '@robustrec/core';
import { exitOnSignals } from '@robustrec/grpc';
import { startDashboard } from './server';

const env = process.env;
let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      address: { type: 'string', default: env.ROBUSTREC_DASHBOARD_ADDRESS ?? '127.0.0.1:8080' },
      // the client-side variable the CLI reads too (ROBUSTREC_ORCHESTRATOR_ADDRESS is the orchestrator's own listener)
      orchestrator: { type: 'string', default: env.ROBUSTREC_ORCHESTRATOR ?? '127.0.0.1:50050' },
      data: { type: 'string', default: env.ROBUSTREC_DATA_ADDRESS ?? '127.0.0.1:50051' },
      evaluator: { type: 'string', default: env.ROBUSTREC_EVALUATOR_ADDRESS ?? '127.0.0.1:50054' },
      trainer: { type: 'string', default: env.ROBUSTREC_TRAINER_ADDRESS ?? '127.0.0.1:50053' },
      // ScoringService for "try it": where scoring pods serve apart from the registry (Kubernetes)
      scoring: { type: 'string', default: env.ROBUSTREC_SCORING_ADDRESS },
    },
  }));
} catch (e) {
  // parseArgs names the unknown or malformed flag; keep its words, with the platform's code
  throw new RrError('INVALID_ARGUMENT', (e as Error).message);
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[^\s/:[\],]+):(\d{1,5})$/;
/** "host:port" (a dns:/// target where allowed), else an error naming the flag. */
function address(flag: string, v: string | undefined, dnsOk: boolean): string {
  const a = (v ?? '').trim();
  const bare = dnsOk ? a.replace(/^dns:\/\/\//, '') : a;
  const m = HOST_PORT.exec(bare);
  if (!m || Number(m[1]) > 65535) {
    const hint = /^(?:dns|srv):\/\/\//.test(a) && !dnsOk ? ' (list each trainer as host:port: the dashboard resolves no replica sources)' : '';
    throw new RrError('INVALID_ARGUMENT', `--${flag}: expected host:port, got ${JSON.stringify(a.slice(0, 200))}${hint}`);
  }
  return a;
}

const trainers = (values.trainer ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .map((t) => address('trainer', t, false));
if (!trainers.length) throw new RrError('INVALID_ARGUMENT', '--trainer: at least one host:port is required');
const dash = await startDashboard({
  address: address('address', values.address, false),
  endpoints: {
    orchestrator: address('orchestrator', values.orchestrator, true),
    data: address('data', values.data, true),
    evaluator: address('evaluator', values.evaluator, true),
    trainers,
    scoring: values.scoring ? address('scoring', values.scoring, true) : undefined,
  },
});
console.log(`dashboard listening on ${dash.url} (orchestrator ${values.orchestrator}; trainers: ${trainers.join(', ')})`);
// stateless: closing drops open event streams, which browsers' EventSource reopens elsewhere
exitOnSignals('dashboard', () => dash.close());
