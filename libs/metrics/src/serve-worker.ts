/**
 * Worker thread of the serving pool: holds each model's packed item table (built on first
 * use from the shared tables) and answers top-k batches with the evaluation kernel. It
 * blocks in Atomics.wait for the pool's next job (serveRequests; see ServeChannel) and never
 * runs its event loop: control messages are read synchronously from its port.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { serveRequests, type Csr } from '@robustrec/core';
import { BLOCK, DotKernel } from './kernel';
import { H, type ServeChannel, type ServeControl, type SharedDotModel } from './serve-pool';
import { maskRow, TopK } from './topk';

interface Loaded {
  m: SharedDotModel;
  kernel: DotKernel;
  seen: Csr[];
}
const { ch, port } = workerData as { ch: ServeChannel; port: MessagePort };
const models = new Map<number, Loaded>();
const selectors = new Map<number, TopK>();
let items: Int32Array<ArrayBufferLike> = new Int32Array(0);
let scores: Float32Array<ArrayBufferLike> = new Float32Array(0);

function apply(msg: ServeControl): void {
  if ('load' in msg) models.set(msg.load, { m: msg.model, kernel: new DotKernel(msg.model.itemEmb, msg.model.numItems, msg.model.dim), seen: [msg.model.seen as Csr] });
  else if ('unload' in msg) models.delete(msg.unload);
  else ({ items, scores } = msg.results);
}

/** Runs the posted job into the shared result buffers: n × k items and scores, -1/NaN padded. */
function run(): void {
  const { header, users } = ch;
  // every announced message is taken and applied even if one fails, so none is left for the next job
  const msgs: ServeControl[] = [];
  for (let i = header[H.MESSAGES]!; i > 0; i--) {
    const m = receiveMessageOnPort(port);
    if (m) msgs.push(m.message as ServeControl);
  }
  if (msgs.length < header[H.MESSAGES]!) throw new Error('a control message the pool announced has not arrived');
  let failed: unknown;
  for (const m of msgs)
    try {
      apply(m);
    } catch (e) {
      failed ??= e;
    }
  if (failed !== undefined) throw failed;
  const l = models.get(header[H.MODEL]!);
  if (!l) throw new Error(`model ${header[H.MODEL]} not loaded in this worker`);
  const { kernel, m } = l;
  const n = header[H.N]!;
  const k = header[H.K]!;
  let sel = selectors.get(k);
  if (!sel) selectors.set(k, (sel = new TopK(k)));
  items.fill(-1, 0, n * k);
  scores.fill(Number.NaN, 0, n * k);
  const masks = header[H.EXCLUDE] ? l.seen : [];
  for (let s = 0; s < n; s += BLOCK) {
    const c = Math.min(BLOCK, n - s);
    kernel.rankBlock(m.userEmb, users, s, c);
    for (let r = 0; r < c; r++) {
      maskRow(kernel.row(r), masks, users[s + r]!);
      kernel.selectRow(r, sel, items, (s + r) * k, scores);
    }
  }
}

// errors go to the pool in the job's STATUS and error text, for the requests of that batch
serveRequests(ch.ctrl, () => {
  try {
    run();
    ch.header[H.STATUS] = 0;
  } catch (e) {
    const text = new TextEncoder().encode(e instanceof Error ? (e.stack ?? e.message) : String(e)).subarray(0, ch.error.length);
    ch.error.set(text);
    ch.header[H.STATUS] = Math.max(1, text.length);
  }
});
