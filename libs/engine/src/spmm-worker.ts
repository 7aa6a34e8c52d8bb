/** Thread of a Propagation: computes its rows of each requested product. */
import { helperData, serveRequests } from '@robustrec/core';
import { spmm } from './spmm';
import type { SpmmHelperInit, SpmmRequest } from './spmm-helper';
import { WasmSpmm } from './spmm-wasm';

const { init, end } = helperData<SpmmHelperInit>();
const kernel = init.wasm ? new WasmSpmm(init.wasm.memory, init.wasm.adj) : undefined;
serveRequests(end, (_cmd, messages) => {
  const r = messages[0] as SpmmRequest;
  if (r.kind === 'wasm') kernel!.run(r.offsets, r.rowStart, r.rowEnd);
  else spmm(init.adj!, r.x, r.width, r.out, r.rowStart, r.rowEnd, r.acc);
});
