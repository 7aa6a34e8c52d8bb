import { parseArgs } from 'node:util';
import { exitOnSignals } from '@robustrec/grpc';
import { startDataService } from './service';

// Standalone DataService: tsx services/data/src/main.ts --address 127.0.0.1:50051 [--home DIR]
// State under <home>/data (ROBUSTREC_HOME); imports allowed under ROBUSTREC_DATA_ROOTS;
// the catalogue reads ROBUSTREC_DATASETS_DIR before trying to download. Data access tokens
// (attack generators) verify with ROBUSTREC_DATA_TOKEN_KEY / ROBUSTREC_DATA_TOKEN_KEY_FILE,
// else <home>/secrets/data-token.key: the attack service must use the same key. SIGTERM drains
// (ROBUSTREC_SHUTDOWN_GRACE_MS) and exits 0.
const { values } = parseArgs({
  options: {
    address: { type: 'string', default: process.env.ROBUSTREC_DATA_ADDRESS ?? '127.0.0.1:50051' },
    home: { type: 'string' },
  },
});
const srv = await startDataService({ address: values.address, home: values.home });
console.log(`data service listening on ${srv.address} (state in ${srv.store.dir}, data roots: ${srv.store.roots.join(', ')})`);
exitOnSignals('data service', (grace) => srv.shutdown(grace));
