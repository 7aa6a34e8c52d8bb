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
  /**
   * Every service NOT_SERVING at once, then each drains (graceMs, default 5 s) and closes,
   * callers first: trainers, attack, evaluator, data.
   */
  shutdown(graceMs?: number): Promise<void>;
}

export interface PlatformOptions {
  home?: string;
  /** Host for all services (default 127.0.0.1). */
  host?: string;
  /** Fixed ports (data, attack, trainer, evaluator); default ephemeral ports. */
  ports?: { data: number; attack: number; trainer: number; evaluator: number };
  /** Registration token of the attack service for external generators. */
  attackToken?: string;
  /** Trainer services to start (default 1); cells are spread across them. */
  trainers?: number;
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
  // Each trainer keeps its own job table and checkpoints (<home>/trainer-N/ beyond the first).
  const trainerSrvs: Array<Awaited<ReturnType<typeof startTrainerService>>> = [];
  for (let i = 0; i < Math.max(1, opts.trainers ?? 1); i++)
    trainerSrvs.push(
      await startTrainerService({
        address: at(i === 0 ? opts.ports?.trainer : undefined),
        home: i === 0 ? home : join(home, `trainer-${i + 1}`),
        dataAddress: dataSrv.address,
        registryAddress: evalSrv.address,
        // several in-process trainers share the cores: one update thread each
        threads: (opts.trainers ?? 1) > 1 ? 1 : undefined,
      }),
    );
  return {
    home,
    endpoints: { data: dataSrv.address, evaluator: evalSrv.address, trainers: trainerSrvs.map((t) => t.address), attackers: [attackSrv.address] },
    async shutdown(graceMs?: number) {
      for (const l of [...trainerSrvs.map((t) => t.lifecycle), attackSrv.server.lifecycle, evalSrv.lifecycle, dataSrv.server.lifecycle]) l.markNotServing();
      for (const t of trainerSrvs) await t.shutdown(graceMs);
      await attackSrv.shutdown(graceMs);
      await evalSrv.shutdown(graceMs);
      await dataSrv.shutdown(graceMs);
    },
  };
}

export const reportsDir = (home: string, spec: string): string => join(home, 'reports', spec.replace(/[^\w.-]+/g, '_'));
