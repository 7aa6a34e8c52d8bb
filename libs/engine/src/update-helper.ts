import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { FIRST_FREE, HelperLink, startTsWorker } from '@robustrec/core';
import { runRows, type RowJob, type RowRunner } from './kernels';
import type { Adam, AdamOptions, OptimizerKind, ParamTable, SharedTableArrays } from './optim';

// control words beyond the link's (helper-thread.ts in @robustrec/core)
const STEP = FIRST_FREE; // optimiser step to apply
const COUNTS = 8; // per table: touched slots (the helper takes the odd ones)
const UPDATE = 1;
const ROWS = 2;

export interface HelperInit {
  kind: OptimizerKind;
  options: AdamOptions;
  tables: Array<{ name: string; rows: number; width: number; arrays: SharedTableArrays }>;
  ctrl: Int32Array;
  port: MessagePort;
}

/**
 * A second thread for a dot-product training step. The optimiser update, the largest single
 * cost: the touched rows of each table are split in two (alternate slots), the helper
 * updates the odd slots in place (shared memory) while the caller updates the even ones. The
 * step's row kernels (gathers, BPR, perturbation, L2; a RowRunner): the helper takes the
 * second half of the batch rows. Each row's work is independent of the others, so parameters
 * and losses are bit-identical to a one-thread run. The handoff is a seq-cst counter with
 * Atomics.wait/notify (no event loop involved).
 */
export class UpdateHelper implements RowRunner {
  private readonly ctrl: Int32Array;
  private readonly link: HelperLink;
  private readonly worker: Worker;
  private readonly port: MessagePort;

  constructor(opt: Adam, private readonly tables: readonly ParamTable[]) {
    this.ctrl = new Int32Array(new SharedArrayBuffer((COUNTS + tables.length) * 4));
    this.link = new HelperLink(this.ctrl, 'optimiser helper');
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    port1.unref();
    const init: HelperInit = {
      kind: opt.kind,
      options: { lr: opt.lr, weightDecay: opt.wd, beta1: opt.b1, beta2: opt.b2, eps: opt.eps },
      tables: tables.map((t) => ({ name: t.name, rows: t.rows, width: t.width, arrays: t.sharedArrays() })),
      ctrl: this.ctrl,
      port: port2,
    };
    this.worker = startTsWorker(new URL('./update-worker.ts', import.meta.url), { init }, { transferList: [port2] });
    this.worker.on('error', (e) => (this.link.error = e.message));
    this.worker.unref();
  }

  /**
   * One optimiser step (opt.begin() already called) over every table: hands the odd slots
   * to the helper and updates the even slots on this thread; finish() completes it.
   */
  start(opt: Adam): void {
    const c = this.ctrl;
    this.tables.forEach((t, i) => (c[COUNTS + i] = t.touchedCount));
    c[STEP] = opt.step;
    this.link.post(UPDATE);
    this.tables.forEach((t) => opt.updateRange(t, 0, t.touchedCount, 2));
  }

  /** Waits for the helper's slots, then clears the gradients. */
  finish(): void {
    this.link.wait();
    for (const t of this.tables) t.clearGrad();
  }

  /**
   * Row jobs over rows 0 ≤ b < n: the helper runs the second half of the rows while this
   * thread runs the first. Jobs touching non-shared arrays run here only.
   */
  run(jobs: RowJob[], n: number): void {
    if (!jobs.every(allShared)) return runRows(jobs, 0, n);
    const half = n >> 1;
    this.port.postMessage({ jobs, from: half, to: n });
    this.link.post(ROWS);
    runRows(jobs, 0, half);
    this.link.wait();
  }

  close(): Promise<number> {
    this.port.close();
    this.link.post(-1);
    return this.worker.terminate();
  }
}

const allShared = (j: RowJob): boolean =>
  Object.values(j).every((v) => !ArrayBuffer.isView(v) || v.buffer instanceof SharedArrayBuffer);

export const helperControl = { STEP, COUNTS, ROWS };
