/**
 * Standalone AttackService: tsx services/attack/src/main.ts [--address host:port]
 * [--data host:port] [--advertise-data host:port] [--home DIR] [--token TOKEN].
 * ROBUSTREC_HOME holds the state by default; the token may also come from
 * ROBUSTREC_ATTACK_TOKEN or the file ROBUSTREC_ATTACK_TOKEN_FILE names (preferred: flags show
 * up in process lists, environments in `docker inspect`). --advertise-data
 * (ROBUSTREC_ADVERTISED_DATA_ADDRESS) is the data-service address external generators are
 * given, when they cannot use --data (another host, a Kubernetes Service name). The key signing
 * their data access tokens comes from ROBUSTREC_DATA_TOKEN_KEY / ROBUSTREC_DATA_TOKEN_KEY_FILE,
 * else <home>/secrets/data-token.key, and must be the data service's. SIGTERM drains and exits 0.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { homeDir, RrError } from '@robustrec/core';
import { exitOnSignals } from '@robustrec/grpc';
import { startAttackService } from './index';

const { values } = parseArgs({
  options: {
    address: { type: 'string', default: process.env.ROBUSTREC_ATTACK_ADDRESS ?? '0.0.0.0:50052' },
    data: { type: 'string', default: process.env.ROBUSTREC_DATA_ADDRESS ?? '127.0.0.1:50051' },
    'advertise-data': { type: 'string', default: process.env.ROBUSTREC_ADVERTISED_DATA_ADDRESS ?? '' },
    home: { type: 'string' },
    token: { type: 'string', default: process.env.ROBUSTREC_ATTACK_TOKEN ?? '' },
  },
});
/** The registration token: --token, ROBUSTREC_ATTACK_TOKEN, else the file ROBUSTREC_ATTACK_TOKEN_FILE names ('' disables registration). */
function registrationToken(): string {
  if (values.token) return values.token;
  const file = process.env.ROBUSTREC_ATTACK_TOKEN_FILE;
  if (!file) return '';
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new RrError('INVALID_ARGUMENT', `ROBUSTREC_ATTACK_TOKEN_FILE: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

const svc = await startAttackService({
  address: values.address,
  home: values.home ?? homeDir(),
  dataAddress: values.data!,
  advertisedDataAddress: values['advertise-data'] || undefined,
  token: registrationToken(),
});
console.log(`AttackService listening on ${svc.address}`);
// SIGTERM drains (ROBUSTREC_SHUTDOWN_GRACE_MS); a generation still running then is cancelled and stores nothing
exitOnSignals('attack service', (grace) => svc.shutdown(grace));
