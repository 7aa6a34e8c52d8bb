/**
 * The handoff between a caller and a helper thread over a shared Int32Array of control
 * words (the trainer's UpdateHelper and Propagation, the evaluator's ServePool): the caller
 * bumps SEQ with a command and the helper answers in DONE. The helper blocks in Atomics.wait,
 * so no event loop is involved; the caller blocks too (wait) or, on a thread that answers
 * requests, awaits (settled). Words from FIRST_FREE on belong to the user of the link.
 */
export const SEQ = 0; // bumped by the caller per request
export const CMD = 1; // the request's command; -1 stops the helper
export const DONE = 2; // last SEQ the helper finished
export const FAILED = 3; // 1 when the helper threw
export const FIRST_FREE = 4;

/** Caller side. */
export class HelperLink {
  private seq = 0;
  error = '';

  constructor(
    readonly ctrl: Int32Array,
    private readonly what: string,
  ) {}

  /** Wakes the helper with a command; returns the request's sequence number. */
  post(cmd: number): number {
    this.ctrl[CMD] = cmd;
    Atomics.store(this.ctrl, SEQ, ++this.seq);
    Atomics.notify(this.ctrl, SEQ);
    return this.seq;
  }

  /** Resolves once the helper finished the last command, without blocking this thread's event loop. */
  async settled(): Promise<void> {
    const c = this.ctrl;
    const seq = this.seq;
    for (let done = Atomics.load(c, DONE); done !== seq; done = Atomics.load(c, DONE)) await Atomics.waitAsync(c, DONE, done).value;
  }

  /** Blocks until the helper finished the last command (or failed, or 120 s passed). */
  wait(): void {
    const c = this.ctrl;
    const seq = this.seq;
    const deadline = Date.now() + 120_000;
    while (Atomics.load(c, DONE) !== seq) {
      if (this.error || Atomics.load(c, FAILED)) throw new Error(`${this.what} thread failed: ${this.error || 'see its stderr'}`);
      if (Date.now() > deadline) throw new Error(`${this.what} thread did not answer within 120 s`);
      Atomics.wait(c, DONE, Atomics.load(c, DONE), 1_000);
    }
  }
}

/** Helper side: runs handle(cmd) for each request until told to stop. */
export function serveRequests(ctrl: Int32Array, handle: (cmd: number) => void): void {
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, SEQ, seen);
    seen = Atomics.load(ctrl, SEQ);
    const cmd = ctrl[CMD]!;
    if (cmd === -1) return;
    try {
      handle(cmd);
    } catch (e) {
      console.error(e);
      Atomics.store(ctrl, FAILED, 1);
    }
    Atomics.store(ctrl, DONE, seen);
    Atomics.notify(ctrl, DONE);
  }
}
