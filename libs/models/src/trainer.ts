import { RrError, Rng, type Csr } from '@robustrec/core';
import { Adam, allFinite, backendInfo, loadBestBackend, runRows, UpdateHelper, WasmArena, WasmStep, type ParamTable, type RowRunner } from '@robustrec/engine';
import { backbones } from './backbones';
import type { TrainConfig } from './config';
import { defenses } from './defenses';
import { Sampler } from './sampler';
import type { Backbone, Batch, Defense, StepContext } from './types';

/** A loss or parameter became NaN/inf: the step was not applied; the run must stop. */
export class NonFiniteLossError extends RrError {
  constructor(message: string) {
    super('ABORTED', message);
    this.name = 'NonFiniteLossError';
  }
}

export interface Checkpoint {
  epoch: number;
  tensors: Record<string, Float32Array>;
  /** JSON-serialisable: rng state, optimiser step, defense state. */
  state: unknown;
}

export interface ExportedModel {
  backbone: string;
  numUsers: number;
  numItems: number;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

export interface EpochResult {
  epoch: number;
  seconds: number;
  metrics: Record<string, number>;
}

interface TrainerState {
  epoch: number;
  step: number;
  rng: number[];
  defense?: unknown;
  optimizer: string;
  backbone: string;
  defenseName: string;
}

/** Execution settings that do not change results. */
export interface TrainerOptions {
  /**
   * Threads for the optimiser update and a backbone's full propagations (1 or 2). Rows are
   * computed independently, so parameters are bit-identical for any value; use 1 when several
   * trainers share the cores.
   */
  threads?: number;
  /**
   * Arena bytes up to which a table is allocated whole in wasm memory (WasmArena's
   * `fullTablesUpTo`, default 2 GiB); larger tables keep only their parameters there and take the
   * JS optimiser update. Tests lower it to exercise the large-table path on small data.
   */
  fullTablesUpTo?: number;
}

/** Trains one backbone with one defense; see the package README for the step. */
export class Trainer {
  private _epoch = 0;
  private failed: string | undefined;
  private readonly backbone: Backbone;
  private readonly defense: Defense;
  private readonly opt: Adam;
  /** Second thread for the optimiser update (TrainerOptions.threads = 2). */
  private helper: UpdateHelper | undefined;
  /** The shared memory of the tables and the step's buffers, and this thread's wasm kernels over it. */
  private readonly arena: WasmArena;
  private readonly kernels: WasmStep;
  /** A step's row kernels: split with the helper thread when there is one. */
  private readonly rows: RowRunner = { run: (jobs, n) => (this.helper ? this.helper.run(jobs, n) : runRows(jobs, 0, n, this.kernels)) };
  /** this.batch already holds the next step's samples (drawn during the previous update). */
  private prefetched = false;
  private aborted = false;
  private readonly rng: Rng;
  private readonly sampler: Sampler;
  private readonly batch: Batch;
  private readonly bufs: Float32Array[];
  private readonly nbufs: Float32Array[];
  /** Per-user ε of the epoch in progress / the last completed epoch. */
  private readonly magnitudes: Float32Array;
  /** The defense's per-user BPR weights in force (Defense.userWeights), and the batch's per-triple copy. */
  private userWeights: Float32Array | undefined;
  private rowWeights: Float32Array | undefined;
  readonly numUsers: number;
  readonly numItems: number;

  private constructor(
    readonly train: Csr,
    readonly config: TrainConfig,
    opts: TrainerOptions = {},
  ) {
    this.numUsers = train.numRows;
    this.numItems = train.numCols;
    this.arena = new WasmArena(undefined, opts.fullTablesUpTo);
    this.kernels = WasmStep.forArena(this.arena);
    const root = new Rng(config.seed);
    const bdef = backbones[config.backbone.name];
    const ddef = defenses[config.defense.name];
    if (!bdef || !ddef) throw new RrError('INVALID_ARGUMENT', 'config: unresolved backbone/defense (call resolveTrainConfig first)', 'config');
    this.backbone = bdef.create({
      train,
      numUsers: this.numUsers,
      numItems: this.numItems,
      dim: config.dim,
      initStd: config.initStd,
      rng: root.fork('init'),
      params: config.backbone.params,
      options: config.backbone.options,
      threads: opts.threads ?? 1,
      rows: this.rows,
      arena: this.arena,
      step: this.kernels,
    });
    this.defense = ddef.create({ numUsers: this.numUsers, rng: root.fork('defense'), train, params: config.defense.params, options: config.defense.options });
    this.opt = new Adam(config.optimizer, { lr: config.lr, weightDecay: config.weightDecay, beta1: config.beta1, beta2: config.beta2 });
    this.rng = root.fork('sample');
    this.sampler = new Sampler(train, this.rng);
    const B = config.batchSize;
    // the arena (shared memory): a helper thread reads the batch and writes the gathered rows
    const a = this.arena;
    this.batch = { users: a.u32(B), pos: a.u32(B), neg: a.u32(B), posIdx: new Uint32Array(B), n: 0 };
    const w = this.backbone.width;
    this.bufs = Array.from({ length: 9 }, () => a.f32(B * w));
    this.nbufs = Array.from({ length: 4 }, () => a.f32(B));
    this.magnitudes = new Float32Array(this.numUsers);
    if ((opts.threads ?? 1) > 1) this.helper = new UpdateHelper(this.opt, this.backbone.tables, this.kernels);
  }

  static create(train: Csr, config: TrainConfig, opts: TrainerOptions = {}): Trainer {
    return new Trainer(train, config, opts);
  }

  /** Stops the helper thread, if any (the trainer stays usable on one thread). */
  async close(): Promise<void> {
    const h = this.helper;
    this.helper = undefined;
    await Promise.all([h?.close(), this.backbone.close?.()]);
  }

  get epoch(): number {
    return this._epoch;
  }

  get stepsPerEpoch(): number {
    return Math.ceil(this.sampler.samplesPerEpoch / this.config.batchSize);
  }

  /** Loss of the batch in this.batch and its gradient in the tables' grad buffers. */
  private forwardBackward(): { loss: number; bpr: number; reg: number; def: number } {
    const b = this.batch;
    const n = b.n;
    const [eu, ei, ej, gu, gi, gj, s0, s1, s2] = this.bufs;
    const w = this.backbone.width;
    const bb = this.backbone;
    bb.forward(b, eu, ei, ej);
    gu.fill(0, 0, n * w);
    gi.fill(0, 0, n * w);
    gj.fill(0, 0, n * w);
    const [perRow, posScores] = this.nbufs;
    const uw = this.userWeights;
    let rw: Float32Array | undefined;
    if (uw) {
      rw = this.rowWeights ??= new Float32Array(this.config.batchSize);
      for (let q = 0; q < n; q++) rw[q] = uw[b.users[q]];
    }
    const bpr = bb.head.bpr(eu, ei, ej, n, 1, gu, gi, gj, perRow, posScores, rw);
    const ctx: StepContext = {
      epoch: this._epoch,
      batch: b,
      width: w,
      head: bb.head,
      eu,
      ei,
      ej,
      gu,
      gi,
      gj,
      perRow,
      posScores,
      magnitudes: this.magnitudes,
      scratch: [s0, s1, s2],
      scratchN: this.nbufs.slice(2),
      rows: this.rows,
    };
    const def = this.defense.apply(ctx);
    // after the defense: its directions are ∂BPR/∂rows without the L2 term
    const reg = bb.regularize(b, this.config.l2, eu, ei, ej, gu, gi, gj);
    const loss = bpr + reg + def;
    if (!Number.isFinite(loss)) {
      this.failed = `non-finite loss at epoch ${this._epoch + 1}, step ${this.opt.step + 1}: loss=${loss} (bpr=${bpr}, reg=${reg}, defense=${def})`;
      for (const t of bb.tables) t.clearGrad();
      throw new NonFiniteLossError(this.failed);
    }
    bb.backward(b, gu, gi, gj);
    return { loss, bpr, reg, def };
  }

  /** One training step on n sampled triples; returns its losses (before the update). */
  private step(n: number, nextN: number): { loss: number; bpr: number; reg: number; def: number } {
    if (!this.prefetched) this.sampler.fill(this.batch, n);
    this.prefetched = false;
    const r = this.forwardBackward();
    this.opt.begin();
    if (this.helper) {
      this.helper.start(this.opt);
      // the next batch's sampling needs no parameters: draw it while the helper finishes its
      // half of the update (same draws in the same order as without the helper)
      if (nextN > 0) {
        this.sampler.fill(this.batch, nextN);
        this.prefetched = true;
      }
      this.helper.finish(this.opt);
    } else for (const t of this.backbone.tables) this.opt.update(t, this.kernels);
    return r;
  }

  /**
   * Loss and dense gradients (one per table, laid out like the table) of a given batch at the
   * current parameters, as a training step of the current epoch would compute them; nothing
   * is updated. For tests against the tfjs references and for diagnostics.
   */
  gradientsFor(users: Uint32Array, pos: Uint32Array, neg: Uint32Array): { loss: number; bpr: number; reg: number; def: number; grads: Record<string, Float32Array> } {
    const n = users.length;
    if (n > this.config.batchSize) throw new RrError('INVALID_ARGUMENT', 'batch larger than config.batch_size', 'users');
    const b = this.batch;
    b.users.set(users);
    b.pos.set(pos);
    b.neg.set(neg);
    for (let q = 0; q < n; q++) {
      const u = users[q];
      let p = this.train.indptr[u];
      while (p < this.train.indptr[u + 1] && this.train.indices[p] !== pos[q]) p++;
      b.posIdx[q] = p;
    }
    b.n = n;
    for (const t of this.backbone.tables) this.opt.catchUpAll(t);
    // as at the start of the next epoch (PamaCF-paper's mean norm, StDenoise's edges); recomputed identically then
    this.defense.onEpochStart?.({ epoch: this._epoch, backbone: this.backbone, train: this.train });
    this.applyEdgeMask();
    const saved = this.magnitudes.slice();
    const r = this.forwardBackward();
    this.magnitudes.set(saved);
    const grads: Record<string, Float32Array> = {};
    for (const t of this.backbone.tables) {
      const g = new Float32Array(t.rows * t.width);
      for (let q = 0; q < t.touchedCount; q++) g.set(t.grad.subarray(q * t.width, (q + 1) * t.width), t.touched[q] * t.width);
      grads[t.name] = g;
      t.clearGrad();
    }
    return { ...r, grads };
  }

  /**
   * The defense's training edges (StDenoise) to the sampler and a graph backbone, and its per-user
   * BPR weights (GraphRfi) to the step; nothing when it has neither.
   */
  private applyEdgeMask(): void {
    if (this.defense.userWeights) this.userWeights = this.defense.userWeights();
    if (!this.defense.edgeMask) return;
    const keep = this.defense.edgeMask();
    this.sampler.setEdgeMask(keep);
    this.backbone.setEdgeMask?.(keep);
  }

  /** Trains one epoch. Throws NonFiniteLossError (and refuses further epochs) on NaN/inf. */
  runEpoch(onStep?: (step: number, steps: number) => void): EpochResult {
    if (this.failed) throw new NonFiniteLossError(`trainer failed earlier: ${this.failed}`);
    if (this.aborted) throw new RrError('FAILED_PRECONDITION', 'an epoch of this trainer was aborted mid-way; restore it from a checkpoint');
    const t0 = performance.now();
    const B = this.config.batchSize;
    const total = this.sampler.samplesPerEpoch;
    const steps = this.stepsPerEpoch;
    const ectx = { epoch: this._epoch, backbone: this.backbone, train: this.train };
    this.defense.onEpochStart?.(ectx);
    this.applyEdgeMask();
    this.magnitudes.fill(0);
    let sLoss = 0, sBpr = 0, sReg = 0, sDef = 0;
    for (let s = 0; s < steps; s++) {
      const n = Math.min(B, total - s * B);
      const r = this.step(n, s + 1 < steps ? Math.min(B, total - (s + 1) * B) : 0);
      sLoss += r.loss;
      sBpr += r.bpr;
      sReg += r.reg;
      sDef += r.def;
      try {
        onStep?.(s + 1, steps);
      } catch (e) {
        // A callback that throws (a cancel) leaves the epoch half done: parameters, rng and
        // the prefetched batch belong to no epoch boundary, so this object is done with.
        this.aborted = true;
        throw e;
      }
    }
    for (const t of this.backbone.tables) this.opt.catchUpAll(t);
    for (const t of this.backbone.tables)
      if (!allFinite(t.data)) {
        this.failed = `non-finite parameters in ${t.name} after epoch ${this._epoch + 1}`;
        throw new NonFiniteLossError(this.failed);
      }
    this.defense.onEpochEnd?.(ectx);
    this._epoch++;
    return {
      epoch: this._epoch,
      seconds: (performance.now() - t0) / 1000,
      metrics: { loss: sLoss / steps, bpr_loss: sBpr / steps, reg_loss: sReg / steps, adv_loss: sDef / steps },
    };
  }

  /** Everything needed to resume bit-identically (taken between epochs). */
  checkpoint(): Checkpoint {
    const tensors: Record<string, Float32Array> = {};
    for (const t of this.backbone.tables) {
      tensors[`param/${t.name}`] = t.data.slice();
      tensors[`adam_m/${t.name}`] = t.m.slice();
      tensors[`adam_v/${t.name}`] = t.v.slice();
      // step numbers stay exact in float32 below 2^24 steps
      tensors[`adam_last/${t.name}`] = Float32Array.from(t.last);
    }
    tensors.perturbation_magnitude = this.magnitudes.slice();
    for (const [k, v] of Object.entries(this.defense.tensors?.() ?? {})) tensors[`defense/${k}`] = v.slice();
    const state: TrainerState = {
      epoch: this._epoch,
      step: this.opt.step,
      rng: this.rng.state(),
      defense: this.defense.state?.(),
      optimizer: this.config.optimizer,
      backbone: this.config.backbone.name,
      defenseName: this.config.defense.name,
    };
    return { epoch: this._epoch, tensors, state: JSON.parse(JSON.stringify(state)) };
  }

  static restore(train: Csr, config: TrainConfig, ckpt: Checkpoint, opts: TrainerOptions = {}): Trainer {
    const tr = new Trainer(train, config, opts);
    const st = ckpt.state as TrainerState;
    if (st.backbone !== config.backbone.name || st.defenseName !== config.defense.name || st.optimizer !== config.optimizer)
      throw new RrError('FAILED_PRECONDITION', `checkpoint is for ${st.backbone}/${st.defenseName}/${st.optimizer}, not ${config.backbone.name}/${config.defense.name}/${config.optimizer}`);
    const take = (name: string, dst: Float32Array | Int32Array): void => {
      const src = ckpt.tensors[name];
      if (!src || src.length !== dst.length) throw new RrError('FAILED_PRECONDITION', `checkpoint tensor ${name} missing or of the wrong size`);
      dst.set(src);
    };
    for (const t of tr.backbone.tables) {
      take(`param/${t.name}`, t.data);
      take(`adam_m/${t.name}`, t.m);
      take(`adam_v/${t.name}`, t.v);
      take(`adam_last/${t.name}`, t.last);
    }
    take('perturbation_magnitude', tr.magnitudes);
    const dt: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(ckpt.tensors)) if (k.startsWith('defense/')) dt[k.slice(8)] = v;
    tr.defense.restore?.(dt, st.defense);
    tr.applyEdgeMask();
    tr.rng.restore(st.rng);
    tr.opt.step = st.step;
    tr._epoch = st.epoch;
    return tr;
  }

  /** Scoring tensors (final embeddings for dot-product models) and last-epoch ε per user. */
  exportModel(): ExportedModel {
    for (const t of this.backbone.tables) this.opt.catchUpAll(t);
    return {
      backbone: this.config.backbone.name,
      numUsers: this.numUsers,
      numItems: this.numItems,
      tensors: {
        ...this.backbone.exportTensors(),
        perturbation_magnitude: { shape: [this.numUsers], data: this.magnitudes.slice() },
      },
    };
  }

  /** Parameter tables (read-only use: tests, diagnostics). */
  get tables(): readonly ParamTable[] {
    return this.backbone.tables;
  }

  /** Loads the best tfjs backend available (tfjs-node[-gpu] when installed); call once per process. */
  static async loadBackend(): Promise<void> {
    await loadBestBackend();
  }

  /**
   * What ran this training, for model provenance, from the thread that trained (not the
   * service's main thread): the step's row kernels as counted by this thread's WasmStep (a
   * helper thread runs the same jobs on the same arena), the optimiser update per table, the
   * backbone's own parts. TensorFlow.js runs no training computation (it is the tests' reference).
   */
  engineReport(): Record<string, string> {
    const { wasm, js } = this.kernels.ran;
    const kernels = js === 0 ? 'wasm-simd (step.wat)' : wasm === 0 ? 'js (Float32Array)' : `mixed: ${wasm} row jobs in wasm-simd (step.wat), ${js} in js`;
    const tables = this.backbone.tables;
    const inWasm = tables.filter((t) => t.wasmReady(this.kernels)).map((t) => t.name);
    const update =
      inWasm.length === tables.length ? 'wasm-simd (step.wat adam)' : inWasm.length === 0 ? 'js' : `wasm-simd (step.wat adam) for ${inWasm.join(', ')}; js for ${tables.filter((t) => !inWasm.includes(t.name)).map((t) => t.name).join(', ')}`;
    return {
      'training-engine': `robustrec fused kernels, ${this.helper ? 2 : 1} thread(s)`,
      'training-kernels': kernels,
      'optimizer-update': `${this.config.optimizer}: ${update}`,
      tfjs: `not used by training (reference implementation and tests; loaded backend ${backendInfo().package})`,
      // a backbone that runs part of the step in tfjs says so (NeuMF's head), overriding the line above
      ...this.backbone.engine?.(),
    };
  }

}
