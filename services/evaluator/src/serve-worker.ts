/**
 * Worker thread of the serving pool: holds a kernel per model over its item table packed in
 * shared memory (the first thread to load it packs it, the others wait) and answers top-k batches with the evaluation kernel. It
 * blocks in the platform's handoff (serveRequests, @robustrec/core) for the pool's next job
 * and never runs its event loop.
 */
import { helperData, serveRequests, type Csr } from '@robustrec/core';
import { DotKernel, dotRanker, rankUsers, TopK, type BlockRanker } from '@robustrec/scoring';
import { H, type ServeControl, type ServeInit, type SharedDotModel } from './serve-pool';

interface Loaded {
  ranker: BlockRanker;
  seen: Csr[];
}
const { init, end } = helperData<ServeInit>();
const { users } = init;
const c = end.ctrl;
const models = new Map<number, Loaded>();
const selectors = new Map<number, TopK>();
let items: Int32Array<ArrayBufferLike> = new Int32Array(0);
let scores: Float32Array<ArrayBufferLike> = new Float32Array(0);

function apply(msg: ServeControl): void {
  if ('load' in msg) {
    const m = msg.model;
    models.set(msg.load, { ranker: dotRanker(new DotKernel(m.itemEmb, m.numItems, m.dim, m.packed), m.userEmb), seen: [m.seen as Csr] });
  }
  else if ('unload' in msg) models.delete(msg.unload);
  else ({ items, scores } = msg.results);
}

/** Runs the posted job into the shared result buffers: n × k items and scores, -1/NaN padded. */
function run(): void {
  const l = models.get(Atomics.load(c, H.MODEL));
  if (!l) throw new Error(`model ${Atomics.load(c, H.MODEL)} not loaded in this worker`);
  const k = Atomics.load(c, H.K);
  let sel = selectors.get(k);
  if (!sel) selectors.set(k, (sel = new TopK(k)));
  rankUsers(l.ranker, users, 0, Atomics.load(c, H.N), Atomics.load(c, H.EXCLUDE) ? l.seen : [], k, items, scores, sel);
}

// a failure fails this job's requests (their promises reject with its message)
serveRequests(end, (_cmd, messages) => {
  // every control message is applied even if one fails, so the worker's state stays whole
  let failed: unknown;
  for (const m of messages as ServeControl[])
    try {
      apply(m);
    } catch (e) {
      failed ??= e;
    }
  if (failed !== undefined) throw failed;
  run();
});
