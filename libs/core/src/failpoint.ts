import { writeSync } from 'node:fs';

/**
 * Named fail points for the fault-injection tests (test/faults*.e2e.test.ts): a place in the
 * code where a test can freeze a real service process, so that its SIGKILL lands in one
 * exact window (e.g. "dataset files written, catalogue row not yet committed") instead of
 * wherever a timer happens to fall. Windows that last a few milliseconds in production can
 * then be tested every run, not once in a thousand.
 *
 * Off unless ROBUSTREC_FAILPOINTS names the point (comma-separated names); an unset
 * variable costs one Map lookup per call. When a named point is reached, the thread reaching
 * it writes "failpoint <name> reached" to stderr and blocks (Atomics.wait: no event loop,
 * no timers, nothing else of that thread runs), as a process frozen at that instruction
 * would. The test then kills the process. Nothing else ever releases it.
 */
const armed = new Set(
  (process.env.ROBUSTREC_FAILPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Blocks this thread for good if ROBUSTREC_FAILPOINTS names `name` (see the file comment). */
export function failpoint(name: string): void {
  if (armed.size === 0 || !armed.has(name)) return;
  // fd 2 directly: a worker thread's process.stderr is relayed by the main thread, asynchronously
  writeSync(2, `failpoint ${name} reached\n`);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}
