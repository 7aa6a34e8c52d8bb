import { MessageChannel, receiveMessageOnPort, workerData, type MessagePort, type Worker } from 'node:worker_threads';
import { newStartFailure, startFailureText, startTsWorker, type StartFailure } from './workers';

/**
 * The one caller/helper handoff of the platform. Every cross-thread handoff uses it: the
 * trainer's optimiser update and row runner (libs/engine update-helper), LightGCN's
 * propagation (libs/engine spmm-helper), the evaluator's serving pool and the ranking pool
 * (libs/metrics). The helper thread blocks in Atomics.wait (no event loop involved); the
 * caller blocks too (wait) or, on a thread that answers requests, awaits (settled).
 *
 * Shared words (an Int32Array over a SharedArrayBuffer): SEQ is written only by the caller,
 * DONE, FAILED and ERROR_LEN only by the helper; CMD and MSGS belong to the request in
 * flight. Words from FIRST_FREE on belong to the user of the link.
 *
 * INVARIANT: request n runs exactly once, on the helper, after everything the caller wrote
 * for it and before the caller reads anything it produced.
 *   1. The caller writes the request (CMD, MSGS, its port messages, user words) and only then
 *      publishes SEQ = n; it never publishes n + 1 before it has loaded DONE = n.
 *   2. The helper runs a request only when it *loads* SEQ = served + 1. Returning from
 *      Atomics.wait means nothing by itself: it re-reads SEQ and sleeps again if SEQ has not
 *      moved. (A wake-up is a hint; the word is the truth.)
 *   3. The helper publishes DONE = n after all of its writes for request n (results, FAILED,
 *      the error text); the caller reads them only after loading DONE = n.
 * All of these loads and stores are Atomics operations (sequentially consistent), and a
 * MessagePort message posted before SEQ is stored is visible to receiveMessageOnPort once
 * SEQ is loaded (the port's queue is guarded by a mutex that the post releases first).
 *
 * Why rule 2 (the race it closes, issue 15): the caller's `Atomics.store(SEQ, n)` and
 * `Atomics.notify(SEQ)` are two steps, and the helper's old loop took every return from
 * Atomics.wait as a new request:
 *     caller                              helper (finishing request n-1, not yet asleep)
 *     store SEQ = n
 *       (preempted)                       wait(SEQ, n-1) -> "not-equal": runs request n,
 *                                         stores DONE = n, wait(SEQ, n) -> asleep
 *     notify(SEQ)                 ->      wakes, loads SEQ = n (unchanged), runs n AGAIN
 * A repeated optimiser update applied a second Adam step to the helper's half of the rows
 * without any error; repeated row jobs found their port message already taken ("woken for
 * row jobs without a request"). The same holds for any stray notify on SEQ. Under rule 2 the
 * late wake-up finds SEQ = served and the helper goes back to sleep.
 */
export const SEQ = 0; // last request the caller published
export const DONE = 1; // last request the helper finished
export const CMD = 2; // the request's command; STOP ends the helper
export const MSGS = 3; // port messages the request carries
export const FAILED = 4; // the last request that threw (0: none)
export const ERROR_LEN = 5; // bytes of that request's error text
export const FIRST_FREE = 8;
export const STOP = -1;

const ERROR_BYTES = 4096;

/** The helper's end of a link: handed to the helper thread (its port in the transfer list). */
export interface LinkEnd {
  ctrl: Int32Array;
  error: Uint8Array;
  port: MessagePort;
}

/** Caller side of the handoff. */
export class HelperLink {
  private seq = 0;
  /** Set by the owner from the helper's 'error' event (seen only while this thread's event loop runs). */
  error = '';
  /** Where the helper's bootstrap reports a module that failed to load (seen by a blocked wait too). */
  startFailure?: StartFailure;
  readonly ctrl: Int32Array;
  /** The helper's end; pass it to the helper thread with `end.port` in the transfer list. */
  readonly end: LinkEnd;
  private readonly port: MessagePort;

  constructor(
    readonly what: string,
    /** Words after FIRST_FREE that the link's user needs. */
    userWords = 0,
    /** Longest a blocking wait lasts before it gives up (a helper that died cannot answer). */
    readonly timeoutMs = 120_000,
  ) {
    const sab = new SharedArrayBuffer(4 * (FIRST_FREE + userWords) + ERROR_BYTES);
    this.ctrl = new Int32Array(sab, 0, FIRST_FREE + userWords);
    const { port1, port2 } = new MessageChannel();
    port1.unref();
    this.port = port1;
    this.end = { ctrl: this.ctrl, error: new Uint8Array(sab, 4 * (FIRST_FREE + userWords)), port: port2 };
  }

  /** True between post() and the helper's answer. */
  get busy(): boolean {
    return Atomics.load(this.ctrl, DONE) !== this.seq;
  }

  /**
   * Publishes a request: `messages` go out on the link's port first (cloned, in order), then
   * SEQ (rule 1). Returns the request's sequence number.
   */
  post(cmd: number, messages: readonly unknown[] = []): number {
    const c = this.ctrl;
    if (this.busy) throw new Error(`${this.what}: a request was posted while request ${this.seq} is in flight`);
    for (const m of messages) this.port.postMessage(m);
    Atomics.store(c, CMD, cmd);
    Atomics.store(c, MSGS, messages.length);
    Atomics.store(c, SEQ, ++this.seq);
    Atomics.notify(c, SEQ);
    return this.seq;
  }

  /** Blocks until the helper has finished the last request; throws its error if it failed. */
  wait(): void {
    const c = this.ctrl;
    const seq = this.seq;
    const deadline = Date.now() + this.timeoutMs;
    for (let done = Atomics.load(c, DONE); done !== seq; done = Atomics.load(c, DONE)) {
      this.throwIfDead();
      if (Date.now() > deadline) throw new Error(`${this.what} thread did not answer within ${this.timeoutMs / 1000} s`);
      Atomics.wait(c, DONE, done, 1_000);
    }
    this.check(seq);
  }

  /** Resolves once the helper has finished the last request, without blocking this thread; rejects with its error. */
  async settled(): Promise<void> {
    const c = this.ctrl;
    const seq = this.seq;
    for (let done = Atomics.load(c, DONE); done !== seq; done = Atomics.load(c, DONE)) {
      this.throwIfDead();
      await Atomics.waitAsync(c, DONE, done, 1_000).value;
    }
    this.check(seq);
  }

  /** A helper that died, or whose module never loaded, will not answer: fail instead of waiting out the timeout. */
  private throwIfDead(): void {
    const notLoaded = this.startFailure && startFailureText(this.startFailure);
    if (notLoaded !== undefined) throw new Error(`${this.what} thread failed: its module did not load: ${notLoaded}`);
    if (this.error) throw new Error(`${this.what} thread failed: ${this.error}`);
  }

  private check(seq: number): void {
    if (Atomics.load(this.ctrl, FAILED) !== seq) return;
    const text = new TextDecoder().decode(this.end.error.slice(0, Atomics.load(this.ctrl, ERROR_LEN)));
    throw new Error(`${this.what} thread failed: ${text}`);
  }

  /** Asks the helper to return from serveRequests (no answer is awaited) and closes the port. */
  stop(): void {
    if (!this.busy) this.post(STOP);
    this.port.close();
  }
}

/**
 * Helper side: runs handle(cmd, messages) once per request until STOP. An exception fails
 * that request only (its message reaches the caller's wait/settled; the stack goes to stderr).
 */
export function serveRequests(end: LinkEnd, handle: (cmd: number, messages: unknown[]) => void): void {
  const { ctrl, port } = end;
  let served = 0;
  for (;;) {
    let seq = Atomics.load(ctrl, SEQ);
    while (seq === served) {
      Atomics.wait(ctrl, SEQ, served); // rule 2: only SEQ moving is a request
      seq = Atomics.load(ctrl, SEQ);
    }
    const cmd = Atomics.load(ctrl, CMD);
    const n = Atomics.load(ctrl, MSGS);
    try {
      if (seq !== served + 1) throw new Error(`handoff protocol violated: request ${seq} published before request ${served + 1}`);
      const messages: unknown[] = [];
      for (let i = 0; i < n; i++) {
        const m = receiveMessageOnPort(port);
        if (!m) throw new Error(`handoff protocol violated: request ${seq} announced ${n} messages, ${i} arrived`);
        messages.push(m.message);
      }
      if (cmd === STOP) return;
      handle(cmd, messages);
    } catch (e) {
      console.error(e);
      const text = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).subarray(0, end.error.length);
      end.error.set(text);
      Atomics.store(ctrl, ERROR_LEN, text.length);
      Atomics.store(ctrl, FAILED, seq);
    } finally {
      served = seq;
      Atomics.store(ctrl, DONE, seq);
      Atomics.notify(ctrl, DONE);
    }
  }
}

/** A helper thread and its link. */
export interface Helper {
  readonly link: HelperLink;
  readonly worker: Worker;
  /** Stops the helper thread. */
  close(): Promise<void>;
}

/**
 * Starts a helper thread running `entry` (a module that calls serveRequests(helperData().end, ...))
 * with `init` as its data. The worker never keeps the process alive.
 */
export function startHelper(entry: URL, what: string, init: unknown, opts: { userWords?: number; timeoutMs?: number } = {}): Helper {
  const link = new HelperLink(what, opts.userWords, opts.timeoutMs);
  link.startFailure = newStartFailure();
  const worker = startTsWorker(entry, { init, end: link.end }, { transferList: [link.end.port] }, link.startFailure);
  worker.on('error', (e) => (link.error = e.message));
  worker.on('exit', (code) => (link.error ||= `exited with code ${code}`));
  worker.unref(); // after the listeners, which would re-ref it
  return {
    link,
    worker,
    async close() {
      link.stop();
      await worker.terminate();
    },
  };
}

/** Inside a helper thread: the data startHelper passed and the link's helper end. */
export function helperData<T>(): { init: T; end: LinkEnd } {
  return workerData as { init: T; end: LinkEnd };
}
