import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { experiment } from '@robustrec/contracts';
import { failedPrecondition, homeDir, newId, notFound, RrError } from '@robustrec/core';
import { checkHealth, serverStream, startServer, unary, writeMessage, type RunningServer, type SecurityConfig } from '@robustrec/grpc';
import { writeReport } from './artifacts';
import { buildReport, SIGNIFICANCE, SIGNIFICANCE_TEST } from './report';
import { reportsDir } from './platform';
import { ReplicaPool, type ReplicaPoolOptions } from './replicas';
import { DEFAULT_RECONNECT, Orchestrator, SHUTDOWN, cellRecord, type Endpoints, type ReconnectPolicy } from './runner';
import { expandCells, parseSpec, type Cell, type ExperimentSpec } from './spec';
import { ExperimentStore, type CellRecord, type ExperimentRecord, type ExperimentState } from './store';

export interface OrchestratorServiceOptions {
  /** Bind address (default an ephemeral loopback port). */
  address?: string;
  /** State: <home>/orchestrator/experiments.db, reports under <home>/reports. */
  home?: string;
  /** The services experiments drive (trainers and attackers: replica sources, see replicas.ts). */
  endpoints: Endpoints;
  security?: SecurityConfig;
  healthAddress?: string;
  reconnect?: ReconnectPolicy;
  /** Trainer pool options (slots per replica, lostAfterMs, DNS refresh). */
  pool?: ReplicaPoolOptions;
}

export interface RunningOrchestratorService {
  address: string;
  port: number;
  server: RunningServer;
  store: ExperimentStore;
  trainers: ReplicaPool;
  shutdown(graceMs?: number): Promise<void>;
}

/** Events a watcher can miss (epochs) when its queue is this long; cell and end events never are. */
const WATCH_QUEUE = 256;
/** Report files go out in pieces of this size. */
const REPORT_CHUNK = 1 << 20;

type WatchEvent = experiment.WatchExperimentResponse;

/**
 * One running experiment and its watchers. Invariant: every watcher receives, in order, each
 * cell event and the final event after its snapshot; epoch events are dropped for a watcher
 * whose queue holds WATCH_QUEUE events (a slow client costs bounded memory, never a stall
 * of the run).
 */
class Run {
  readonly controller = new AbortController();
  readonly watchers = new Set<{ queue: WatchEvent[]; wake: () => void; closed: boolean }>();
  ended = false;
  done!: Promise<void>;
  constructor(
    readonly record: ExperimentRecord,
    readonly spec: ExperimentSpec,
    readonly cells: Cell[],
  ) {}

  emit(ev: WatchEvent, droppable: boolean): void {
    for (const w of this.watchers) {
      if (droppable && w.queue.length >= WATCH_QUEUE) continue;
      w.queue.push(ev);
      w.wake();
    }
  }
}

const STATE_TO_PROTO: Record<ExperimentState, experiment.ExperimentState> = {
  running: experiment.ExperimentState.EXPERIMENT_STATE_RUNNING,
  succeeded: experiment.ExperimentState.EXPERIMENT_STATE_SUCCEEDED,
  failed: experiment.ExperimentState.EXPERIMENT_STATE_FAILED,
  cancelled: experiment.ExperimentState.EXPERIMENT_STATE_CANCELLED,
  interrupted: experiment.ExperimentState.EXPERIMENT_STATE_INTERRUPTED,
};
const CELL_TO_PROTO: Record<CellRecord['state'], experiment.CellState> = {
  pending: experiment.CellState.CELL_STATE_PENDING,
  running: experiment.CellState.CELL_STATE_RUNNING,
  done: experiment.CellState.CELL_STATE_DONE,
  failed: experiment.CellState.CELL_STATE_FAILED,
};

export function cellToProto(c: CellRecord): experiment.Cell {
  return {
    key: c.key,
    dataset: c.dataset,
    attack: c.attack,
    variant: c.variant,
    seed: c.seed,
    state: CELL_TO_PROTO[c.state],
    replica: c.replica ?? '',
    jobId: c.jobId,
    modelId: c.modelId,
    metrics: c.metrics,
    error: c.error,
    errorCode: c.errorCode,
    seconds: c.seconds,
    lostReplicas: c.lostReplicas ?? [],
    model: c.model,
    sweepParam: c.sweepParam,
    sweepValue: c.sweepValue ?? undefined,
    datasetId: c.datasetId,
    evaluationId: c.evaluationId,
    configJson: JSON.stringify(c.config ?? {}),
    versions: c.versions ?? {},
    finishedAt: c.finishedAt,
  };
}

const SPECS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'specs');
let builtins: Map<string, ExperimentSpec> | undefined;
/**
 * The specs shipped in services/orchestrator/specs, by name: the definition of a spec whose
 * cells were stored before the store recorded definitions (the committed results' stores).
 */
function builtinSpec(name: string): ExperimentSpec | undefined {
  builtins ??= new Map(
    readdirSync(SPECS_DIR)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => parseSpec(readFileSync(join(SPECS_DIR, f), 'utf8'), f))
      .map((s) => [s.name, s] as const),
  );
  return builtins.get(name);
}

/**
 * ExperimentService over the Orchestrator and its ExperimentStore: submissions run in this
 * process, against trainer and attack replica pools shared by every experiment (so cells of
 * concurrent experiments are spread over the same replicas, one slot each).
 */
export async function startOrchestratorService(opts: OrchestratorServiceOptions): Promise<RunningOrchestratorService> {
  const home = opts.home ?? homeDir();
  const store = new ExperimentStore(join(home, 'orchestrator', 'experiments.db'));
  // experiments a stopped orchestrator left running: their cells stay, a re-submission resumes
  store.interruptRunning();
  const probe = (service: string) => async (a: string) => (await checkHealth(a, service).catch(() => '')) === 'SERVING';
  const trainers = await new ReplicaPool('trainer', opts.endpoints.trainers, { probe: probe('robustrec.v1.TrainerService'), ...opts.pool }).start();
  const attackers = opts.endpoints.attackers.length
    ? await new ReplicaPool('attack', opts.endpoints.attackers, { probe: probe('robustrec.v1.AttackService'), ...opts.pool, slots: Number.MAX_SAFE_INTEGER }).start()
    : undefined;
  const runs = new Map<string, Run>();

  /** The cells of this submission's expansion (the store keeps other versions' cells too). */
  const currentCells = (run: { spec: ExperimentSpec; cells: Cell[] }): CellRecord[] => {
    const byKey = new Map(store.list(run.spec.name).map((c) => [c.key, c]));
    return run.cells.map((c) => byKey.get(c.key) ?? cellRecord(run.spec, c, 'pending'));
  };
  const specOf = (rec: ExperimentRecord): { spec: ExperimentSpec; cells: Cell[] } => {
    const base = parseSpec(rec.specYaml, 'spec_yaml');
    const spec = rec.seeds.length ? { ...base, seeds: rec.seeds } : base;
    return { spec, cells: expandCells(spec) };
  };
  const toProto = (rec: ExperimentRecord, cells: CellRecord[]): experiment.Experiment => ({
    id: rec.id,
    specName: rec.specName,
    state: STATE_TO_PROTO[rec.state],
    cellsTotal: cells.length,
    cellsDone: cells.filter((c) => c.state === 'done').length,
    cellsFailed: cells.filter((c) => c.state === 'failed').length,
    cellsRunning: cells.filter((c) => c.state === 'running').length,
    submittedAt: rec.submittedAt,
    finishedAt: rec.finishedAt,
    error: rec.error,
    seeds: rec.seeds,
  });
  const get = (id: string): { rec: ExperimentRecord; spec: ExperimentSpec; cells: Cell[] } => {
    const run = runs.get(id);
    if (run) return { rec: store.getExperiment(id) ?? run.record, spec: run.spec, cells: run.cells };
    const rec = store.getExperiment(id);
    if (!rec) throw notFound('id', id);
    return { rec, ...specOf(rec) };
  };
  const snapshot = (id: string): experiment.Experiment => {
    const g = get(id);
    return toProto(g.rec, currentCells(g));
  };

  const start = (rec: ExperimentRecord, spec: ExperimentSpec): Run => {
    const run = new Run(rec, spec, expandCells(spec));
    const exp = (): experiment.Experiment => snapshot(rec.id);
    const cellEvent = (r: CellRecord): void => run.emit({ experiment: exp(), cells: [cellToProto(r)], progress: undefined, log: '' }, false);
    const orch = new Orchestrator(
      opts.endpoints,
      store,
      {
        cellUpdate: cellEvent,
        cellDone: (_c, r) => cellEvent(r),
        epoch: (cell, epoch, epochs, metrics, etaSeconds) =>
          run.emit({ experiment: exp(), cells: [], progress: { key: cell.key, epoch, epochs, metrics, etaSeconds }, log: '' }, true),
        log: (line) => run.emit({ experiment: exp(), cells: [], progress: undefined, log: line }, true),
      },
      opts.reconnect ?? DEFAULT_RECONNECT,
      { trainers, attackers },
    );
    run.done = orch.run(spec, { signal: run.controller.signal }).then(
      (all) => {
        const keys = new Set(run.cells.map((c) => c.key));
        const mine = all.filter((c) => keys.has(c.key));
        const failed = mine.filter((c) => c.state !== 'done').length;
        if (run.controller.signal.reason === SHUTDOWN) return; // interruptRunning marks it
        if (run.controller.signal.aborted) store.finishExperiment(rec.id, 'cancelled', 'cancelled by CancelExperiment');
        else store.finishExperiment(rec.id, failed || mine.length < run.cells.length ? 'failed' : 'succeeded', failed ? `${failed} of ${run.cells.length} cells did not finish` : '');
      },
      (e: unknown) => {
        if (run.controller.signal.reason !== SHUTDOWN) store.finishExperiment(rec.id, 'failed', e instanceof Error ? e.message : String(e));
      },
    ).finally(() => {
      run.ended = true;
      if (run.controller.signal.reason !== SHUTDOWN) run.emit({ experiment: exp(), cells: [], progress: undefined, log: '' }, false);
      runs.delete(rec.id);
      for (const w of run.watchers) w.wake();
    });
    runs.set(rec.id, run);
    return run;
  };

  const impl: experiment.ExperimentServiceServer = {
    submitExperiment: unary(async (req) => {
      if (!req.specYaml.trim()) throw new RrError('INVALID_ARGUMENT', 'spec_yaml: empty');
      const parsed = parseSpec(req.specYaml, 'spec_yaml');
      req.seeds.forEach((s, i) => {
        if (!Number.isInteger(s)) throw new RrError('INVALID_ARGUMENT', `seeds[${i}]: expected an integer`);
      });
      const spec = req.seeds.length ? { ...parsed, seeds: [...new Set(req.seeds)] } : parsed;
      const cells = expandCells(spec);
      if (!cells.length) throw new RrError('INVALID_ARGUMENT', 'spec_yaml: the spec expands to no cells');
      const busy = [...runs.values()].find((r) => r.spec.name === spec.name);
      if (busy) throw new RrError('ALREADY_EXISTS', `experiment ${busy.record.id} of spec ${spec.name} is still running: watch it, or cancel it first`);
      const rec: ExperimentRecord = { id: newId('exp'), specName: spec.name, specYaml: req.specYaml, seeds: req.seeds.length ? spec.seeds : [], state: 'running', submittedAt: new Date().toISOString(), finishedAt: '', error: '' };
      store.addExperiment(rec);
      start(rec, spec);
      return { experiment: snapshot(rec.id) };
    }),
    listExperiments: unary(async (req) => ({
      experiments: store.listExperiments(req.specName || undefined).map((r) => {
        const run = runs.get(r.id);
        return toProto(r, currentCells(run ?? specOf(r)));
      }),
    })),
    getExperiment: unary(async (req) => {
      const g = get(req.id);
      const cells = currentCells(g);
      return { experiment: toProto(g.rec, cells), cells: cells.map(cellToProto) };
    }),
    watchExperiment: serverStream(async (req, call) => watch(req.id, call)),
    cancelExperiment: unary(async (req) => {
      const run = runs.get(req.id);
      if (!run) {
        const rec = store.getExperiment(req.id);
        if (!rec) throw notFound('id', req.id);
        throw failedPrecondition(`experiment ${req.id} has already ended (${rec.state})`);
      }
      run.controller.abort('cancelled');
      // jobs are cancelled on their trainers: the run ends within a few round trips
      await Promise.race([run.done, new Promise((r) => setTimeout(r, 10_000).unref())]);
      return { experiment: snapshot(req.id) };
    }),
    listSpecs: unary(async () => ({
      specs: store.specSummaries().map((s) => ({
        name: s.name,
        cellsTotal: s.total,
        cellsDone: s.done,
        cellsFailed: s.failed,
        cellsRunning: s.running,
        lastFinishedAt: s.lastFinishedAt,
        known: store.getSpec(s.name) !== undefined || builtinSpec(s.name) !== undefined,
      })),
    })),
    getResults: unary(async (req) => {
      if (!req.specName) throw new RrError('INVALID_ARGUMENT', 'spec_name: empty');
      if (req.specName.length > 256) throw new RrError('INVALID_ARGUMENT', 'spec_name: longer than 256 characters');
      const stored = store.list(req.specName);
      if (!stored.length) throw notFound('spec_name', req.specName);
      const spec = (store.getSpec(req.specName) as ExperimentSpec | undefined) ?? builtinSpec(req.specName);
      if (!spec) throw failedPrecondition(`spec_name: the definition of spec ${req.specName} is not recorded in this orchestrator's store (run it once with this version)`);
      const cells = currentCells({ spec, cells: expandCells(spec) });
      const report = buildReport(spec, cells.filter((c) => c.state !== 'pending'));
      return {
        reportJson: JSON.stringify(report),
        cells: cells.map(cellToProto),
        specJson: JSON.stringify(spec),
        significanceTest: SIGNIFICANCE_TEST,
        significanceLevel: SIGNIFICANCE,
      };
    }),
    getReport: serverStream(async (req, call) => {
      const g = get(req.id);
      const { files } = await writeReport(g.spec, currentCells(g).filter((c) => c.state !== 'pending'), reportsDir(home, g.spec.name), opts.endpoints.evaluator);
      for (const f of files) {
        const bytes = readFileSync(f);
        const name = f.slice(f.lastIndexOf('/') + 1);
        let off = 0;
        do {
          await writeMessage(call, { name, offset: off, data: bytes.subarray(off, off + REPORT_CHUNK), size: bytes.byteLength });
          off += REPORT_CHUNK;
        } while (off < bytes.byteLength);
      }
    }),
  };

  async function watch(id: string, call: ServerWritableStream<experiment.WatchExperimentRequest, WatchEvent>): Promise<void> {
    const g = get(id);
    const run = runs.get(id);
    const w = { queue: [] as WatchEvent[], wake: () => undefined as void, closed: false };
    // subscribe before the snapshot: nothing between the two is missed (a duplicate cell event is harmless)
    run?.watchers.add(w);
    try {
      const cells = currentCells(g);
      await writeMessage(call, { experiment: toProto(store.getExperiment(id) ?? g.rec, cells), cells: cells.map(cellToProto), progress: undefined, log: '' });
      if (!run) return;
      const cancelled = new Promise<void>((r) => call.once('cancelled', () => r()));
      for (;;) {
        while (w.queue.length) await writeMessage(call, w.queue.shift()!);
        if (run.ended || call.cancelled) return;
        await Promise.race([new Promise<void>((r) => (w.wake = r)), cancelled]);
        if (call.cancelled) return;
        if (run.ended && !w.queue.length) {
          // a shutdown ends the stream without a final event: the client reconnects elsewhere
          if (run.controller.signal.reason === SHUTDOWN) throw new RrError('UNAVAILABLE', 'the orchestrator is shutting down; watch again once it is back');
          return;
        }
      }
    } finally {
      run?.watchers.delete(w);
    }
  }

  const server = await startServer([{ name: 'robustrec.v1.ExperimentService', definition: experiment.ExperimentServiceService, implementation: impl }], opts.address, {
    maxReceiveMessageBytes: 1 << 20,
    security: opts.security,
    healthAddress: opts.healthAddress,
  });
  server.markReady();
  return {
    address: server.address,
    port: server.port,
    server,
    store,
    trainers,
    async shutdown(graceMs?: number) {
      server.lifecycle.markNotServing();
      // running experiments stop here without cancelling their jobs: a restarted orchestrator
      // marks them interrupted and a re-submission reattaches to the jobs
      for (const r of runs.values()) r.controller.abort(SHUTDOWN);
      await Promise.all([...runs.values()].map((r) => r.done));
      await server.shutdown(graceMs);
      trainers.close();
      attackers?.close();
      store.interruptRunning();
      store.close();
    },
  };
}


