/** Helper thread of the bare-link stress test: counts its runs and echoes each request's value. */
import { FIRST_FREE, helperData, serveRequests } from '@robustrec/core';
import { ECHO_MESSAGE, ECHO_WORD, FAIL } from './echo-commands';

const { init, end } = helperData<{ out: Int32Array }>();
const { out } = init;
serveRequests(end, (cmd, messages) => {
  Atomics.add(out, 0, 1); // runs, across all requests
  if (cmd === ECHO_WORD) Atomics.store(out, 1, Atomics.load(end.ctrl, FIRST_FREE));
  else if (cmd === ECHO_MESSAGE) Atomics.store(out, 1, (messages[0] as { v: number }).v);
  else if (cmd === FAIL) throw new Error(`planned failure ${Atomics.load(end.ctrl, FIRST_FREE)}`);
});
