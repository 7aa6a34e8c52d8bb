/** Thread of a Propagation: computes its rows of each requested product. */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { serveRequests } from '@robustrec/core';
import { spmm } from './spmm';
import type { SpmmHelperInit, SpmmRequest } from './spmm-helper';
import { WasmSpmm } from './spmm-wasm';

const init = (workerData as { init: SpmmHelperInit }).init;
const kernel = init.wasm ? new WasmSpmm(init.wasm.memory, init.wasm.adj) : undefined;
serveRequests(init.ctrl, () => {
  const msg = receiveMessageOnPort(init.port);
  if (!msg) throw new Error('woken without a request');
  const r = msg.message as SpmmRequest;
  if (r.kind === 'wasm') kernel!.run(r.offsets, r.rowStart, r.rowEnd);
  else spmm(init.adj!, r.x, r.width, r.out, r.rowStart, r.rowEnd, r.acc);
});
