/** Thread of an UpdateHelper: applies optimiser steps to its (odd) slots of the touched rows, and runs its half of row jobs. */
import { helperData, serveRequests } from '@robustrec/core';
import { runRows } from './kernels';
import { Adam, ParamTable } from './optim';
import { RowJobDecoder } from './row-codec';
import { WasmStep } from './step-wasm';
import { helperControl as H, type BufferMessage, type HelperInit } from './update-helper';

const { init, end } = helperData<HelperInit>();
const opt = new Adam(init.kind, init.options);
const tables = init.tables.map((t) => new ParamTable(t.name, t.rows, t.width, t.arrays));
const c = end.ctrl;
const decoder = new RowJobDecoder();
const step = init.memory ? new WasmStep(init.memory) : undefined;
serveRequests(end, (cmd, messages) => {
  if (cmd === H.ROWS) {
    for (const m of messages as BufferMessage[]) decoder.add(m.id, m.buffer);
    const { jobs, from, to } = decoder.decode(init.cmd);
    runRows(jobs, from, to, step);
  } else if (cmd === H.UPDATE) {
    opt.step = Atomics.load(c, H.STEP);
    const n = tables.length;
    tables.forEach((t, i) => {
      const count = Atomics.load(c, H.COUNTS + i);
      if (Atomics.load(c, H.COUNTS + n + i) === 1) Atomics.store(c, H.COUNTS + 2 * n + i, opt.updateWasm(t, 1, count, 2, step!, t.rows));
      else opt.updateRange(t, 1, count, 2);
    });
  } else throw new Error(`optimiser helper: unknown command ${cmd}`);
});
