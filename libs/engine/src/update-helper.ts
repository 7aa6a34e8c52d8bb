import { FIRST_FREE, startHelper, type Helper, type WasmMemory } from '@robustrec/core';
import { runRows, type RowJob, type RowRunner } from './kernels';
import { CODEC_SLOTS, RowJobEncoder } from './row-codec';
import type { Adam, AdamOptions, OptimizerKind, ParamTable, SharedTableArrays } from './optim';
import type { WasmStep } from './step-wasm';

// the link's user words (helper-thread.ts in @robustrec/core)
const STEP = FIRST_FREE; // optimiser step to apply
const COUNTS = FIRST_FREE + 1; // per table: touched slots (the helper takes the odd ones)
// after the counts, per table: 1 when its update runs in wasm (the table is in the arena, as
// opt.update decides on one thread), then per table: slots the helper's wasm update left to
// the exact recursion
const UPDATE = 1;
const ROWS = 2;

export interface HelperInit {
  kind: OptimizerKind;
  options: AdamOptions;
  tables: Array<{ name: string; rows: number; width: number; arrays: SharedTableArrays }>;
  /** The command area of row-job requests (row-codec.ts). */
  cmd: Float64Array;
  /** The trainer's WasmArena memory, when it has one: the helper runs the same wasm kernels on it. */
  memory?: WasmMemory;
}

/** A buffer the helper is sent before the first row job that uses it. */
export interface BufferMessage {
  id: number;
  buffer: SharedArrayBuffer;
}

/**
 * A second thread for a dot-product training step. The optimiser update, the largest single
 * cost: the touched rows of each table are split in two (alternate slots), the helper
 * updates the odd slots in place (shared memory) while the caller updates the even ones. The
 * step's row kernels (gathers, BPR, perturbation, L2; a RowRunner): the helper takes the
 * second half of the batch rows. Each row's work is independent of the others and is done
 * by the same code on either thread (wasm when the arrays live in the trainer's arena, JS
 * otherwise), so parameters and losses are bit-identical to a one-thread run. Requests go
 * over the platform's one handoff (HelperLink in @robustrec/core, whose invariant makes each
 * run exactly once).
 */
export class UpdateHelper implements RowRunner {
  private readonly helper: Helper;
  private readonly cmd = new Float64Array(new SharedArrayBuffer(8 * CODEC_SLOTS));
  private readonly encoder: RowJobEncoder;
  /** Slots the caller's wasm update left to the exact recursion, per table. */
  private readonly exactHere: number[];
  /** Per table: whether its update runs in wasm. */
  private readonly wasm: boolean[];

  constructor(
    opt: Adam,
    private readonly tables: readonly ParamTable[],
    /** The trainer thread's wasm kernels (undefined: JS kernels only). */
    private readonly step?: WasmStep,
  ) {
    const init: HelperInit = {
      kind: opt.kind,
      options: { lr: opt.lr, weightDecay: opt.wd, beta1: opt.b1, beta2: opt.b2, eps: opt.eps },
      tables: tables.map((t) => ({ name: t.name, rows: t.rows, width: t.width, arrays: t.sharedArrays() })),
      cmd: this.cmd,
      memory: step?.memory,
    };
    this.encoder = new RowJobEncoder();
    this.exactHere = tables.map(() => 0);
    this.wasm = tables.map((t) => t.wasmReady(step));
    this.helper = startHelper(new URL('./update-worker.ts', import.meta.url), 'optimiser helper', init, { userWords: 1 + 3 * tables.length });
    this.wasm.forEach((w, i) => Atomics.store(this.helper.link.ctrl, COUNTS + tables.length + i, w ? 1 : 0));
  }

  /** The handoff (for the stress tests). */
  get link(): Helper['link'] {
    return this.helper.link;
  }

  /**
   * One optimiser step (opt.begin() already called) over every table: hands the odd slots
   * to the helper and updates the even slots on this thread; finish() completes it.
   */
  start(opt: Adam): void {
    const c = this.helper.link.ctrl;
    this.tables.forEach((t, i) => {
      if (this.wasm[i]) opt.prepare(t);
      Atomics.store(c, COUNTS + i, t.touchedCount);
    });
    Atomics.store(c, STEP, opt.step);
    this.helper.link.post(UPDATE);
    this.tables.forEach((t, i) => {
      if (this.wasm[i]) this.exactHere[i] = opt.updateWasm(t, 0, t.touchedCount, 2, this.step!, 0);
      else opt.updateRange(t, 0, t.touchedCount, 2);
    });
  }

  /** Waits for the helper's slots, finishes the rows left to the exact recursion, then clears the gradients. */
  finish(opt: Adam): void {
    this.helper.link.wait();
    const c = this.helper.link.ctrl;
    const n = this.tables.length;
    this.tables.forEach((t, i) => {
      if (this.wasm[i]) {
        opt.finishExact(t, 0, this.exactHere[i]!);
        opt.finishExact(t, t.rows, Atomics.load(c, COUNTS + 2 * n + i));
      }
      t.clearGrad();
    });
  }

  /**
   * Row jobs over rows 0 ≤ b < n: the helper runs the second half of the rows while this
   * thread runs the first. Jobs touching non-shared arrays run here only.
   */
  run(jobs: RowJob[], n: number): void {
    if (!jobs.every(allShared)) return runRows(jobs, 0, n, this.step);
    const half = n >> 1;
    const fresh: BufferMessage[] = this.encoder.encode(jobs, half, n, this.cmd);
    this.helper.link.post(ROWS, fresh);
    runRows(jobs, 0, half, this.step);
    this.helper.link.wait();
  }

  close(): Promise<void> {
    return this.helper.close();
  }
}

const allShared = (j: RowJob): boolean =>
  Object.values(j).every((v) => !ArrayBuffer.isView(v) || v.buffer instanceof SharedArrayBuffer);

export const helperControl = { STEP, COUNTS, UPDATE, ROWS };
