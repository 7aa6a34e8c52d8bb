/**
 * Standalone AttackService: tsx services/attack/src/main.ts [--address host:port]
 * [--data host:port] [--token TOKEN]. ROBUSTREC_HOME holds the state; the token may also
 * come from ROBUSTREC_ATTACK_TOKEN (preferred: flags show up in process lists). SIGTERM
 * drains and exits 0.
 */
import { homeDir } from '@robustrec/core';
import { exitOnSignals } from '@robustrec/grpc';
import { startAttackService } from './index';

const args = process.argv.slice(2);
const flag = (n: string, d: string): string => {
  const i = args.indexOf(n);
  return i >= 0 && args[i + 1] ? args[i + 1]! : d;
};

const svc = await startAttackService({
  address: flag('--address', '0.0.0.0:50052'),
  home: homeDir(),
  dataAddress: flag('--data', '127.0.0.1:50051'),
  token: flag('--token', process.env.ROBUSTREC_ATTACK_TOKEN ?? ''),
});
console.log(`AttackService listening on ${svc.address}`);
// SIGTERM drains (ROBUSTREC_SHUTDOWN_GRACE_MS); a generation still running then is cancelled and stores nothing
exitOnSignals('attack service', (grace) => svc.shutdown(grace));
