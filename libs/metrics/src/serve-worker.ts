/**
 * Worker thread of the serving pool: holds each model's packed item table (built on first
 * use from the shared tables) and answers top-k batches with the evaluation kernel.
 */
import { parentPort } from 'node:worker_threads';
import type { Csr } from '@robustrec/core';
import { BLOCK, DotKernel } from './kernel';
import type { ServeJob, ServeReply, SharedDotModel } from './serve-pool';
import { maskRow, TopK } from './topk';

interface Loaded {
  m: SharedDotModel;
  kernel: DotKernel;
  seen: Csr[];
}
const models = new Map<string, Loaded>();
const selectors = new Map<number, TopK>();

parentPort!.on('message', (msg: ServeJob | { unload: string }) => {
  if ('unload' in msg) {
    models.delete(msg.unload);
    return;
  }
  try {
    if (msg.model) models.set(msg.key, { m: msg.model, kernel: new DotKernel(msg.model.itemEmb, msg.model.numItems, msg.model.dim), seen: [msg.model.seen as Csr] });
    const l = models.get(msg.key);
    if (!l) throw new Error(`model ${msg.key} not loaded in this worker`);
    const { kernel, m } = l;
    const k = msg.k;
    let sel = selectors.get(k);
    if (!sel) selectors.set(k, (sel = new TopK(k)));
    const n = msg.users.length;
    const items = new Int32Array(n * k).fill(-1);
    const scores = new Float32Array(n * k).fill(Number.NaN);
    const masks = msg.exclude ? l.seen : [];
    for (let s = 0; s < n; s += BLOCK) {
      const c = Math.min(BLOCK, n - s);
      kernel.rankBlock(m.userEmb, msg.users, s, c);
      for (let r = 0; r < c; r++) {
        maskRow(kernel.row(r), masks, msg.users[s + r]!);
        kernel.selectRow(r, sel, items, (s + r) * k, scores);
      }
    }
    parentPort!.postMessage({ id: msg.id, items, scores } satisfies ServeReply, [items.buffer, scores.buffer]);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies ServeReply);
  }
});
