/** Thread of an UpdateHelper: applies optimiser steps to its (odd) slots of the touched rows, and runs its half of row jobs. */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { serveRequests } from '@robustrec/core';
import { runRows, type RowJob } from './kernels';
import { Adam, ParamTable } from './optim';
import { helperControl as H, type HelperInit } from './update-helper';

const init = (workerData as { init: HelperInit }).init;
const opt = new Adam(init.kind, init.options);
const tables = init.tables.map((t) => new ParamTable(t.name, t.rows, t.width, t.arrays));
const c = init.ctrl;
serveRequests(c, (cmd) => {
  if (cmd === H.ROWS) {
    const msg = receiveMessageOnPort(init.port);
    if (!msg) throw new Error('woken for row jobs without a request');
    const { jobs, from, to } = msg.message as { jobs: RowJob[]; from: number; to: number };
    runRows(jobs, from, to);
  } else {
    opt.step = c[H.STEP]!;
    tables.forEach((t, i) => opt.updateRange(t, 1, c[H.COUNTS + i]!, 2));
  }
});
