import { join } from 'node:path';
import { homeDir } from '@robustrec/core';
import { startDataService } from '@robustrec/data-service';
import { startAttackService } from '@robustrec/attack-service';
import { startTrainerService } from '@robustrec/trainer-service';
import { startEvaluatorService } from '@robustrec/evaluator-service';
import type { Endpoints } from './runner';

export interface Platform {
  endpoints: Endpoints;
  home: string;
  shutdown(): Promise<void>;
}

export interface PlatformOptions {
  home?: string;
  /** Host for all services (default 127.0.0.1). */
  host?: string;
  /** Fixed ports (data, attack, trainer, evaluator); default ephemeral ports. */
  ports?: { data: number; attack: number; trainer: number; evaluator: number };
  /** Registration token of the attack service for external generators. */
  attackToken?: string;
}

/**
 * Starts the four services in this process, each on its own loopback gRPC port with its
 * own SQLite store under `home`. They still talk to each other only over gRPC.
 */
export async function startPlatform(opts: PlatformOptions = {}): Promise<Platform> {
  const home = opts.home ?? homeDir();
  const host = opts.host ?? '127.0.0.1';
  const at = (p?: number): string => `${host}:${p ?? 0}`;
  const dataSrv = await startDataService({ address: at(opts.ports?.data), home });
  const evalSrv = await startEvaluatorService({ address: at(opts.ports?.evaluator), home, dataAddress: dataSrv.address });
  const attackSrv = await startAttackService({
    address: at(opts.ports?.attack),
    home,
    dataAddress: dataSrv.address,
    token: opts.attackToken ?? process.env.ROBUSTREC_ATTACK_TOKEN ?? '',
  });
  const trainerSrv = await startTrainerService({ address: at(opts.ports?.trainer), home, dataAddress: dataSrv.address, registryAddress: evalSrv.address });
  return {
    home,
    endpoints: { data: dataSrv.address, evaluator: evalSrv.address, trainers: [trainerSrv.address], attackers: [attackSrv.address] },
    async shutdown() {
      await trainerSrv.shutdown();
      await attackSrv.shutdown();
      await evalSrv.shutdown();
      await dataSrv.shutdown();
    },
  };
}

export const reportsDir = (home: string, spec: string): string => join(home, 'reports', spec.replace(/[^\w.-]+/g, '_'));
