import { attack, generator } from '@robustrec/contracts';
import { homeDir, memoryBudget } from '@robustrec/core';
import { dataTokenKey, startServer, type RunningServer } from '@robustrec/grpc';
import { join } from 'node:path';
import { builtinGeneratorServer } from './builtin';
import { GeneratorRegistry } from './registry';
import { attackServer } from './service';

export { builtinGeneratorServer, checkDataAddress, genuineRows, normalizeAddress } from './builtin';
export { GeneratorRegistry } from './registry';

export interface AttackServiceOptions {
  /** Bind address (default an ephemeral loopback port). */
  address?: string;
  /** Platform home; state goes to <home>/attack/attack.db. */
  home?: string;
  /** DataService address (this service's own view of it). */
  dataAddress: string;
  /**
   * The DataService address external generators are told to read from (default dataAddress):
   * set it when generators run elsewhere, e.g. "robustrec-data:50051" (a Kubernetes Service).
   */
  advertisedDataAddress?: string;
  /**
   * Key signing the generators' data access tokens, shared with the data service (default:
   * see dataTokenKey: ROBUSTREC_DATA_TOKEN_KEY, ROBUSTREC_DATA_TOKEN_KEY_FILE, else the home's key).
   */
  dataTokenKey?: string;
  /** Token required by RegisterGenerator/UnregisterGenerator (empty: registration disabled). */
  token?: string;
  /** Further data services the built-in generators may read from (besides dataAddress). */
  extraDataAddresses?: string[];
  /** Memory budget in bytes (default: ROBUSTREC_MEMORY_BUDGET or the core default). */
  memoryBudgetBytes?: number;
}

/**
 * Starts the AttackService. The same server also serves AttackGenerator for the built-in
 * generators, and Generate reaches built-ins through it like any external generator.
 */
export async function startAttackService(
  opts: AttackServiceOptions,
): Promise<{ address: string; port: number; server: RunningServer; shutdown(graceMs?: number): Promise<void> }> {
  const home = opts.home ?? homeDir();
  const key = dataTokenKey(home, opts.dataTokenKey);
  const registry = new GeneratorRegistry(join(home, 'attack', 'attack.db'));
  let self = '';
  const memoryBudgetBytes = memoryBudget(opts.memoryBudgetBytes);
  const allowedDataAddresses = [opts.dataAddress, ...(opts.extraDataAddresses ?? [])];
  const server = await startServer(
    [
      {
        name: 'robustrec.v1.AttackService',
        definition: attack.AttackServiceService,
        implementation: attackServer({
          registry,
          dataAddress: opts.dataAddress,
          advertisedDataAddress: opts.advertisedDataAddress,
          token: opts.token ?? '',
          dataTokenKey: key,
          selfAddress: () => self,
          memoryBudgetBytes,
        }),
      },
      {
        name: 'robustrec.v1.AttackGenerator',
        definition: generator.AttackGeneratorService,
        implementation: builtinGeneratorServer({ allowedDataAddresses: () => allowedDataAddresses, memoryBudgetBytes }),
      },
    ],
    opts.address,
    // every request is small: configs, ids, a token
    { maxReceiveMessageBytes: 1 << 20 },
  );
  // reach the built-ins over loopback even when bound to 0.0.0.0 / [::]
  self = `127.0.0.1:${server.port}`;
  // its store is open and generations start their own worker threads: ready
  server.markReady();
  return {
    address: server.address,
    port: server.port,
    server,
    shutdown: async (graceMs?: number) => {
      await server.shutdown(graceMs);
      registry.close();
    },
  };
}
