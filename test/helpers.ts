import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { datasetsDir, gowallaDir, repoRoot } from '@robustrec/core';
import { callOptions, checkHealth, iterate } from '@robustrec/grpc';
import type { evaluator, trainer } from '@robustrec/contracts';
import { trainConfigToProto } from '@robustrec/models';

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'robustrec-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether `port` can be bound on loopback right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The lowest port the kernel hands out on its own (bind to 0, outgoing connections). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

/**
 * A currently free loopback port for a child process that needs a fixed address. Chosen at
 * random BELOW the kernel's ephemeral range: a port from listen(0) is free only until the child
 * binds it, and meanwhile any outgoing connection on the host (the parallel test files' gRPC
 * clients) may be given it — replicas.e2e failed once with EADDRINUSE that way. Below the range
 * only another explicit bind can take it. Falls back to listen(0) if no random pick binds.
 */
export async function freePort(): Promise<number> {
  const hi = Math.min(ephemeralLow(), 65536);
  const lo = Math.max(1024, hi - 12000);
  for (let t = 0; t < 50 && hi - lo > 100; t++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (await canBind(port)) return port;
  }
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Runs a TypeScript entry point of the repo as a separate Node process (tsx loader). */
export function spawnTs(entry: string, args: string[], env: Record<string, string> = {}): ChildProcess & { output(): string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, entry), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

/** Resolves when `predicate(output)` holds, rejects after timeoutMs or when the process exits first. */
export function waitForOutput(child: ChildProcess & { output(): string }, predicate: (out: string) => boolean, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (predicate(child.output())) {
        clearInterval(timer);
        clearTimeout(to);
        resolve(child.output());
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        clearTimeout(to);
        reject(new Error(`process exited (${child.exitCode}) before the expected output:\n${child.output()}`));
      }
    }, 50);
    const to = setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`timed out waiting for output:\n${child.output()}`));
    }, timeoutMs);
  });
}

/** Waits for a child process to exit; returns its exit code. */
export function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

// ---- service processes for the fault-injection tests (faults*.e2e.test.ts) ----------------

export type ServiceKind = 'data' | 'attack' | 'trainer' | 'evaluator' | 'orchestrator';

const MAINS: Record<ServiceKind, string> = {
  orchestrator: 'services/orchestrator/src/serve.ts',
  data: 'services/data/src/main.ts',
  attack: 'services/attack/src/main.ts',
  trainer: 'services/trainer/src/main.ts',
  evaluator: 'services/evaluator/src/main.ts',
};

/**
 * One platform service running as its own OS process on a fixed loopback port, so that it
 * can be killed and started again at the same address (like a restarted pod).
 */
export class ServiceProcess {
  child: (ChildProcess & { output(): string }) | undefined;
  /** Output of the previous runs of this service (the current one is child.output()). */
  private earlier = '';

  private constructor(
    readonly kind: ServiceKind,
    readonly address: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {}

  /** Reserves a port; call start() to run it. */
  static async create(kind: ServiceKind, args: string[], env: Record<string, string> = {}): Promise<ServiceProcess> {
    return new ServiceProcess(kind, `127.0.0.1:${await freePort()}`, args, env);
  }

  /**
   * Starts the process and waits until it has printed its listening line and its health says
   * SERVING for "" (stores open, workers started). extraEnv applies to this run only.
   */
  async start(extraEnv: Record<string, string> = {}): Promise<void> {
    this.spawn(extraEnv);
    await waitForOutput(this.child!, (o) => o.includes('listening'), 90_000);
    await waitForServing(this.address, '', 30_000);
  }

  /** Starts the process without waiting for anything. */
  spawn(extraEnv: Record<string, string> = {}): ChildProcess & { output(): string } {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error(`${this.kind} is already running`);
    if (this.child) this.earlier += this.child.output();
    this.child = spawnTs(MAINS[this.kind], ['--address', this.address, ...this.args], { ...this.env, ...extraEnv });
    return this.child;
  }

  /** Sends a signal and waits for the process to end; resolves to its exit code (null when killed by a signal). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return { code: c?.exitCode ?? null, signal: c?.signalCode ?? null };
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => c.once('exit', (code, sig) => r({ code, signal: sig })));
    c.kill(signal);
    return done;
  }

  /** All output of every run so far. */
  output(): string {
    return this.earlier + (this.child?.output() ?? '');
  }
}

/** Polls grpc.health.v1 Check until `service` reports SERVING. */
export async function waitForServing(address: string, service = '', timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    last = await checkHealth(address, service).catch((e: Error) => `unreachable: ${e.message}`);
    if (last === 'SERVING') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${address} ${service || '(overall)'} not SERVING after ${timeoutMs} ms (last: ${last})`);
}

/** `PRAGMA integrity_check` of a SQLite file, opened read-only: "ok" when sound. */
export function integrityCheck(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

/** Rows of a query on a SQLite file, opened read-only (what a store holds after a crash). */
export function queryDb<T>(path: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Every file under dir (relative paths, sorted); [] when dir does not exist. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/**
 * The Gowalla directory (ROBUSTREC_DATASETS_DIR, default ../shared/datasets, found the way the
 * other tests and benchmarks find it: gowallaDir()). The Gowalla-size fault test needs it and
 * fails loudly without it, unless ROBUSTREC_SKIP_GOWALLA=1 says to skip it (then undefined).
 */
export function requireGowalla(): string | undefined {
  const dir = gowallaDir();
  if (dir) return dir;
  if (process.env.ROBUSTREC_SKIP_GOWALLA === '1') return undefined;
  throw new Error(
    `Gowalla not found under ${datasetsDir()} (gowalla/train.txt): set ROBUSTREC_DATASETS_DIR to the directory holding it, or ROBUSTREC_SKIP_GOWALLA=1 to skip the Gowalla-size tests`,
  );
}

/** A small MF training config for tests (1 epoch, dim 8), with proto-level overrides. */
export function smallTrainConfig(over: Partial<trainer.TrainConfig> = {}): trainer.TrainConfig {
  return { ...trainConfigToProto({ backbone: { name: 'mf' }, defense: { name: 'none' }, epochs: 1, batchSize: 256, dim: 8, lr: 0.01, seed: 1 }), ...over };
}

/** The RegisterModel header of an MF model (user and item tables of `dim` columns) the tests upload. */
export function mfModelHeader(o: { name: string; datasetId: string; numUsers: number; numItems: number; dim: number; defense?: string; jobId?: string }): evaluator.Model {
  return {
    id: '', name: o.name, version: 0, backbone: 'mf', defense: o.defense ?? 'none', datasetId: o.datasetId, jobId: o.jobId ?? '', numUsers: o.numUsers, numItems: o.numItems,
    tensors: [{ name: 'user_embedding', shape: [o.numUsers, o.dim] }, { name: 'item_embedding', shape: [o.numItems, o.dim] }],
    metrics: [], provenance: undefined, sizeBytes: 0,
  };
}

/** A training job as its WatchJob stream last reported it (the stream ends with the job). */
export async function jobAtEnd(tc: trainer.TrainerServiceClient, job: trainer.Job): Promise<trainer.Job> {
  // only the last event matters: keep one, not the whole stream (a long job sends thousands)
  const stream = tc.watchJob({ id: job.id }, callOptions('watch'));
  let last = job;
  try {
    for await (const ev of iterate(stream)) if (ev.job) last = ev.job;
  } finally {
    stream.cancel();
  }
  return last;
}
