import type { Csr, Rng } from '@robustrec/core';
import type { ParamTable, RowRunner, WasmArena, WasmStep } from '@robustrec/engine';
import type { Scorer } from '@robustrec/scoring';
import type { ComponentSpec, ResolvedComponent } from '@robustrec/core';
import type { TrainConfig } from './config';

/** Scores pairs of final rows and back-propagates through the scoring function. */
export interface Head {
  /**
   * Mean BPR loss softplus(s(u,j) − s(u,i)) over n triples of final rows; ADDS weight·∂/∂rows
   * into gu, gi, gj (and into the head's own parameter gradients). perRow gets each triple's
   * loss, posScores each s(u,i), when given. With rowWeights (per-triple w_b ≥ 0, GraphRfi's user
   * weights) the loss is (1/n)·Σ_b w_b·softplus(…) and its gradients are scaled likewise (perRow
   * stays the unweighted loss); without, exactly the unweighted pass.
   */
  bpr(eu: Float32Array, ei: Float32Array, ej: Float32Array, n: number, weight: number, gu: Float32Array, gi: Float32Array, gj: Float32Array, perRow?: Float32Array, posScores?: Float32Array, rowWeights?: Float32Array): number;
  /** out[b] = s(u_b, i_b). */
  score(eu: Float32Array, ei: Float32Array, n: number, out: Float32Array): void;
  /** Adds ds_b · ∂s(u_b,i_b)/∂rows into gu, gi (and head parameter gradients). */
  scoreBackward(eu: Float32Array, ei: Float32Array, n: number, ds: Float32Array, gu: Float32Array, gi: Float32Array): void;
}

export interface BackboneContext {
  train: Csr;
  numUsers: number;
  numItems: number;
  dim: number;
  initStd: number;
  rng: Rng;
  params: Record<string, number>;
  options: Record<string, string>;
  /** Threads the backbone may use for its own work (results must not depend on it). */
  threads: number;
  /** A step's row kernels (gathers, BPR, …), on the trainer's two threads when it has them (same results). */
  rows: RowRunner;
  /**
   * The trainer's shared WebAssembly memory: tables (tableArrays) and buffers allocated here are
   * what the wasm kernels (and the helper thread) work on; anything else takes the JS kernels.
   */
  arena: WasmArena;
  /** This thread's wasm kernels over the arena (ParamTable.accumulate takes it). */
  step: WasmStep;
}

export interface Batch {
  users: Uint32Array;
  pos: Uint32Array;
  neg: Uint32Array;
  /** CSR position of each (user, positive) pair in the training matrix */
  posIdx: Uint32Array;
  n: number;
}

export interface Backbone {
  /** Trainable tables (the optimiser updates their touched rows). */
  readonly tables: ParamTable[];
  /** Width of the final rows the head scores. */
  readonly width: number;
  readonly head: Head;
  /** Final (scored) rows of the batch's users, positives and negatives. */
  forward(b: Batch, eu: Float32Array, ei: Float32Array, ej: Float32Array): void;
  /** Gradients of the final rows into the tables' gradients (touching the rows). */
  backward(b: Batch, gu: Float32Array, gi: Float32Array, gj: Float32Array): void;
  /**
   * l2·(mean||u||² + mean||i||² + mean||j||²) over the batch's ego rows; adds its gradient
   * (into gu/gi/gj when the final rows are the ego rows, else into the tables).
   */
  regularize(b: Batch, l2: number, eu: Float32Array, ei: Float32Array, ej: Float32Array, gu: Float32Array, gi: Float32Array, gj: Float32Array): number;
  /** Final user and item tables ([numUsers × width], [numItems × width]) from the current parameters. */
  finalEmbeddings(): { users: Float32Array; items: Float32Array };
  /** Scoring tensors of the exported model (besides perturbation_magnitude). */
  exportTensors(): Record<string, { shape: number[]; data: Float32Array }>;
  /** Releases threads the backbone started (ctx.threads > 1). */
  close?(): Promise<void>;
  /** What runs the backbone's own computations beyond the step's row kernels (provenance). */
  engine?(): Record<string, string>;
  /**
   * Graph backbones: propagate over the kept training edges only (keep[p] = 0 drops the edge at
   * position p of the training CSR), degrees and normalisation recomputed from the kept edges;
   * undefined restores the full graph. Set between steps (Defense.edgeMask).
   */
  setEdgeMask?(keep: Uint8Array | undefined): void;
}

export interface BackboneDef extends ComponentSpec {
  create(ctx: BackboneContext): Backbone;
  createScorer(tensors: Record<string, { shape: number[]; data: Float32Array }>): Scorer;
  /** Rules of this backbone on the rest of a resolved configuration (INVALID_ARGUMENT naming the field). */
  validate?(config: TrainConfig): void;
}

/** What a defense sees of one training step. Rows are batch-local [n × width]. */
export interface StepContext {
  /** 0-based epoch in progress */
  epoch: number;
  batch: Batch;
  width: number;
  head: Head;
  eu: Float32Array;
  ei: Float32Array;
  ej: Float32Array;
  /** ∂BPR/∂rows so far (the clean BPR first, user-weighted when Defense.userWeights gives weights); a defense reads them as directions, then adds its own. */
  gu: Float32Array;
  gi: Float32Array;
  gj: Float32Array;
  /** Per-triple BPR loss and positive score of the clean pass. */
  perRow: Float32Array;
  posScores: Float32Array;
  /** Per-user ε of the current epoch (write the ε applied to each batch user). */
  magnitudes: Float32Array;
  /** Scratch buffers [n × width] and [n] (shared memory, so row jobs may use them). */
  scratch: Float32Array[];
  scratchN: Float32Array[];
  /** Runs row kernels on the trainer's threads. */
  rows: RowRunner;
}

export interface EpochContext {
  epoch: number;
  backbone: Backbone;
  train: Csr;
}

export interface Defense {
  /** Adds the defense's loss term to the step; returns its (weighted) value. */
  apply(s: StepContext): number;
  onEpochStart?(e: EpochContext): void;
  onEpochEnd?(e: EpochContext): void;
  /**
   * Training edges in use (1 per position of the training CSR; 0 = dropped), read by the trainer
   * after each onEpochStart and after restore; undefined = every edge. The sampler then draws
   * positives among kept edges only, and a graph backbone propagates over them (setEdgeMask).
   */
  edgeMask?(): Uint8Array | undefined;
  /**
   * Per-user weights [numUsers] of the clean BPR term (GraphRfi: 1 − p_fraud), read by the trainer
   * after each onEpochStart and after restore: triple b's loss and gradients are scaled by
   * w[user_b] (Head.bpr rowWeights). undefined = every weight 1 (the unweighted pass, bit for bit).
   */
  userWeights?(): Float32Array | undefined;
  /** Extra checkpoint content. */
  tensors?(): Record<string, Float32Array>;
  state?(): unknown;
  restore?(tensors: Record<string, Float32Array>, state: unknown): void;
}

export interface DefenseContext {
  numUsers: number;
  /** The defense's own stream, from the run seed (root.fork('defense')); the other streams do not depend on it. */
  rng: Rng;
  train: Csr;
  params: Record<string, number>;
  options: Record<string, string>;
}

export interface DefenseDef extends ComponentSpec {
  create(ctx: DefenseContext): Defense;
}

export type { ResolvedComponent };
