import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { startTsWorker } from '@robustrec/core';
import { spmm, type WeightedCsr } from './spmm';

/** Control words shared with the helper thread. */
const SEQ = 0; // bumped by the caller per request; -1 in CMD stops the helper
const CMD = 1; // 1 = spmm, -1 = stop
const DONE = 2; // last SEQ the helper finished
const FAILED = 3; // 1 when the helper threw

/** One request: out = Â·x (and acc += out) for rows [rowStart, rowEnd). Arrays are shared memory. */
export interface SpmmRequest {
  x: Float32Array;
  width: number;
  out: Float32Array;
  acc?: Float32Array;
  rowStart: number;
  rowEnd: number;
}

export interface SpmmHelperInit {
  adj: WeightedCsr;
  ctrl: Int32Array;
  port: MessagePort;
}

/** Copies a typed array into shared memory (so a helper thread sees the same bytes). */
export function sharedCopy<T extends Float32Array | Uint32Array>(a: T): T {
  const Ctor = a.constructor as new (b: SharedArrayBuffer) => T;
  const s = new Ctor(new SharedArrayBuffer(a.byteLength));
  s.set(a as never);
  return s;
}

/** A zero-filled shared Float32Array. */
export function sharedF32(len: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(len * 4));
}

/**
 * A second thread for full sparse propagations Â·X (LightGCN's largest cost): the rows are
 * split where the work (non-zeros + rows) halves, the helper computes the second part in
 * place while the caller computes the first. The product is in pull form (each output row
 * written once, by one thread, with the same code), so results are bit-identical to one
 * thread. x, out and acc must live in shared memory (sharedF32 / ParamTable arrays).
 * Requests travel over a MessagePort that the helper reads synchronously
 * (receiveMessageOnPort) after an Atomics wake-up, so no event loop is involved.
 */
export class SpmmHelper {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(16));
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly split: number;
  private seq = 0;
  private error = '';

  constructor(private readonly adj: WeightedCsr) {
    const shared: WeightedCsr = {
      numRows: adj.numRows,
      indptr: adj.indptr.buffer instanceof SharedArrayBuffer ? adj.indptr : sharedCopy(adj.indptr),
      indices: adj.indices.buffer instanceof SharedArrayBuffer ? adj.indices : sharedCopy(adj.indices),
      values: adj.values.buffer instanceof SharedArrayBuffer ? adj.values : sharedCopy(adj.values),
    };
    this.adj = shared;
    this.split = balancedSplit(shared);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const init: SpmmHelperInit = { adj: shared, ctrl: this.ctrl, port: port2 };
    this.worker = startTsWorker(new URL('./spmm-worker.ts', import.meta.url), { init }, { transferList: [port2] });
    this.worker.on('error', (e) => (this.error = e.message));
    this.worker.unref();
    this.port.unref();
  }

  /** out = Â·x over all rows, and acc += out when acc is given. */
  spmm(x: Float32Array, width: number, out: Float32Array, acc?: Float32Array): void {
    const req: SpmmRequest = { x, width, out, acc, rowStart: this.split, rowEnd: this.adj.numRows };
    this.port.postMessage(req);
    const c = this.ctrl;
    c[CMD] = 1;
    const seq = ++this.seq;
    Atomics.store(c, SEQ, seq);
    Atomics.notify(c, SEQ);
    spmm(this.adj, x, width, out, 0, this.split, acc);
    const deadline = Date.now() + 120_000;
    while (Atomics.load(c, DONE) !== seq) {
      if (this.error || Atomics.load(c, FAILED)) throw new Error(`propagation helper thread failed: ${this.error || 'see its stderr'}`);
      if (Date.now() > deadline) throw new Error('propagation helper thread did not answer within 120 s');
      Atomics.wait(c, DONE, Atomics.load(c, DONE), 1_000);
    }
  }

  close(): Promise<number> {
    this.ctrl[CMD] = -1;
    Atomics.store(this.ctrl, SEQ, ++this.seq);
    Atomics.notify(this.ctrl, SEQ);
    this.port.close();
    return this.worker.terminate();
  }
}

/** The row where rows + non-zeros (the cost of a pull product) reach half of their total. */
export function balancedSplit(a: WeightedCsr): number {
  const total = a.numRows + a.indptr[a.numRows];
  let lo = 0;
  let hi = a.numRows;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (mid + a.indptr[mid] < total / 2) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export const spmmHelperControl = { SEQ, CMD, DONE, FAILED };
