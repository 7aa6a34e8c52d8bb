/** Thread of a Propagation: computes its rows of each requested product. */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { spmm } from './spmm';
import { spmmHelperControl as H, type SpmmHelperInit, type SpmmRequest } from './spmm-helper';
import { WasmSpmm } from './spmm-wasm';

const init = (workerData as { init: SpmmHelperInit }).init;
const kernel = init.wasm ? new WasmSpmm(init.wasm.memory, init.wasm.adj) : undefined;
const c = init.ctrl;
let seen = 0;
for (;;) {
  Atomics.wait(c, H.SEQ, seen);
  seen = Atomics.load(c, H.SEQ);
  if (c[H.CMD] === -1) break;
  try {
    const msg = receiveMessageOnPort(init.port);
    if (!msg) throw new Error('woken without a request');
    const r = msg.message as SpmmRequest;
    if (r.kind === 'wasm') kernel!.run(r.offsets, r.rowStart, r.rowEnd);
    else spmm(init.adj!, r.x, r.width, r.out, r.rowStart, r.rowEnd, r.acc);
  } catch (e) {
    console.error(e);
    Atomics.store(c, H.FAILED, 1);
  }
  Atomics.store(c, H.DONE, seen);
  Atomics.notify(c, H.DONE);
}
