import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { startTsWorker } from '@robustrec/core';
import { FIRST_FREE, HelperLink } from './helper-thread';
import { gatherAll, gatherRows, type GatherJob } from './kernels';
import type { Adam, AdamOptions, OptimizerKind, ParamTable, SharedTableArrays } from './optim';

// control words beyond the link's (helper-thread.ts)
const STEP = FIRST_FREE; // optimiser step to apply
const COUNTS = 8; // per table: touched slots (the helper takes the odd ones)
const UPDATE = 1;
const GATHER = 2;

export interface HelperInit {
  kind: OptimizerKind;
  options: AdamOptions;
  tables: Array<{ name: string; rows: number; width: number; arrays: SharedTableArrays }>;
  ctrl: Int32Array;
  port: MessagePort;
}

const isShared = (a: ArrayBufferView): boolean => a.buffer instanceof SharedArrayBuffer;

/**
 * A second thread for the optimiser update, the largest single cost of a dot-product
 * training step: the touched rows of each table are split in two (alternate slots), the helper
 * updates the odd slots in place (shared memory) while the caller updates the even ones. Each row's
 * update is independent of the others, so parameters are bit-identical to a one-thread run.
 * The handoff is a seq-cst counter with Atomics.wait/notify (no event loop involved).
 */
export class UpdateHelper {
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
   * Row gathers (a step's forward copies) split over the two threads: the helper copies the
   * second half of each job's rows while this thread copies the first. Copies are exact, so
   * the result is the same as one thread's. Jobs on non-shared arrays run here.
   */
  gather(jobs: GatherJob[]): void {
    if (!jobs.every((j) => isShared(j.table) && isShared(j.rows) && isShared(j.out))) return gatherAll(jobs);
    const half = jobs.map((j) => (j.n + (j.from ?? 0)) >> 1);
    this.port.postMessage(jobs.map((j, i) => ({ ...j, from: half[i] })));
    this.link.post(GATHER);
    jobs.forEach((j, i) => gatherRows(j.table, j.width, j.rows, half[i]!, j.out, j.from ?? 0));
    this.link.wait();
  }

  close(): Promise<number> {
    this.port.close();
    this.link.post(-1);
    return this.worker.terminate();
  }
}

export const helperControl = { STEP, COUNTS, GATHER };
