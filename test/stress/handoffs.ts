/**
 * Stress drivers, one per cross-thread handoff of the platform (all on HelperLink,
 * libs/core/src/helper-thread.ts). Each drives `rounds` request/answer rounds through the real
 * class and checks every answer exactly against a one-thread reference, so a request run
 * twice (a second Adam step, a row job re-run) or not at all fails the run with the round.
 */
import { Rng, csrFromPairs, FIRST_FREE, startHelper, type Csr } from '@robustrec/core';
import { Adam, gatherRows, normalizedAdjacency, ParamTable, Propagation, sharedF32, sharedU32, UpdateHelper, type RowJob } from '@robustrec/engine';
import { BLOCK, DotKernel, dotProductScorer, RankPool, runDotTask, topItems, type DotRankTask } from '@robustrec/scoring';
import { ServePool } from '@robustrec/evaluator-service';
import type { Competition } from './competition';
import { ECHO_MESSAGE, ECHO_WORD, FAIL } from './echo-commands';

export interface StressResult {
  handoff: string;
  rounds: number;
  seconds: number;
}

const sameBits = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function fail(handoff: string, round: number, what: string): never {
  throw new Error(`${handoff}: round ${round}: ${what}`);
}

const timed = async (handoff: string, rounds: number, run: () => Promise<number> | number): Promise<StressResult> => {
  const t0 = performance.now();
  const n = await run();
  return { handoff, rounds: n || rounds, seconds: (performance.now() - t0) / 1000 };
};

/**
 * The bare link: each round publishes a value (in a user word or a port message) and checks
 * the helper ran exactly once and saw it; every 2999th request fails on purpose and must
 * fail only itself. Blocking wait and async settled alternate.
 */
export function stressLink(rounds: number, comp: Competition): Promise<StressResult> {
  return timed('HelperLink (bare)', rounds, async () => {
    const out = new Int32Array(new SharedArrayBuffer(8));
    const h = startHelper(new URL('./echo-helper.ts', import.meta.url), 'echo', { out }, { userWords: 1 });
    comp.watch(h.link.ctrl);
    try {
      for (let r = 1; r <= rounds; r++) {
        Atomics.store(h.link.ctrl, FIRST_FREE, r);
        if (r % 2999 === 0) {
          h.link.post(FAIL);
          try {
            h.link.wait();
            fail('link', r, 'a failing request was answered as a success');
          } catch (e) {
            if (!String(e).includes(`planned failure ${r}`)) throw e;
          }
        } else {
          h.link.post(r % 3 ? ECHO_WORD : ECHO_MESSAGE, r % 3 ? [] : [{ v: r }]);
          if (r % 2) h.link.wait();
          else await h.link.settled();
          if (Atomics.load(out, 1) !== r) fail('link', r, `helper answered ${Atomics.load(out, 1)}`);
        }
        if (Atomics.load(out, 0) !== r) fail('link', r, `helper ran ${Atomics.load(out, 0)} requests for ${r} posted`);
      }
    } finally {
      await h.close();
    }
    return rounds;
  });
}

/**
 * The trainer's UpdateHelper: alternating optimiser updates (the helper takes the odd
 * slots) and row jobs (the helper takes the second half of the rows), against one-thread
 * Adam on a copy and gatherRows; the tables are compared bit for bit after every round.
 */
export function stressUpdateHelper(rounds: number, comp: Competition): Promise<StressResult> {
  return timed('UpdateHelper (optimiser update + row runner)', rounds, async () => {
    const rng = new Rng(7);
    const shapes = [['U', 157, 8], ['V', 101, 4]] as const;
    const make = (): ParamTable[] =>
      shapes.map(([name, rows, width]) => {
        const t = new ParamTable(name, rows, width);
        const init = new Rng(rows);
        for (let k = 0; k < t.data.length; k++) t.data[k] = Math.fround(0.1 * init.normal());
        return t;
      });
    const two = make();
    const one = make();
    const opt2 = new Adam('adamw', { lr: 0.01, weightDecay: 0.01 });
    const opt1 = new Adam('adamw', { lr: 0.01, weightDecay: 0.01 });
    const helper = new UpdateHelper(opt2, two);
    comp.watch(helper.link.ctrl);
    const B = 24;
    const rows = sharedU32(B);
    const out2 = sharedF32(B * 8);
    const out1 = new Float32Array(B * 8);
    try {
      for (let r = 1; r <= rounds; r++) {
        if (r % 2) {
          // optimiser update: the same gradient on the same (repeated, random) rows of both copies
          for (let t = 0; t < two.length; t++) {
            const n = 1 + rng.int(12);
            for (let j = 0; j < n; j++) {
              const row = rng.int(two[t]!.rows);
              const g = Math.fround(rng.normal());
              for (const tab of [two[t]!, one[t]!]) {
                const o = tab.slotOf(row);
                for (let k = 0; k < tab.width; k++) tab.grad[o + k]! += g * (k + 1);
              }
            }
          }
          opt2.begin();
          helper.start(opt2);
          helper.finish(opt2);
          opt1.begin();
          for (const t of one) opt1.update(t);
          for (let t = 0; t < two.length; t++)
            if (!sameBits(two[t]!.data, one[t]!.data) || !sameBits(two[t]!.m, one[t]!.m)) fail('update', r, `table ${two[t]!.name} differs from the one-thread update`);
        } else {
          const n = 1 + rng.int(B);
          for (let b = 0; b < n; b++) rows[b] = rng.int(157);
          const job: RowJob = { op: 'gather', table: two[0]!.data, width: 8, rows, out: out2 };
          out2.fill(Number.NaN);
          helper.run([job], n);
          gatherRows(one[0]!.data, 8, rows, n, out1);
          if (!sameBits(out2.subarray(0, n * 8), out1.subarray(0, n * 8))) fail('rows', r, 'gathered rows differ');
        }
      }
    } finally {
      await helper.close();
    }
    return rounds;
  });
}

/** LightGCN's Propagation (JS kernel, width 8, and wasm SIMD kernel, width 32): two threads vs one, bit for bit, every product. */
export function stressPropagation(rounds: number, comp: Competition): Promise<StressResult> {
  return timed('Propagation (LightGCN products)', rounds, async () => {
    const us: number[] = [], is: number[] = [];
    for (let u = 0; u < 120; u++) for (let t = 0; t < 1 + (u % 9); t++) us.push(u), is.push((u * 7 + t * 13) % 80);
    const adj = normalizedAdjacency(csrFromPairs(120, 80, us, is));
    let done = 0;
    for (const w of [8, 32]) {
      const n = adj.numRows * w;
      const one = new Propagation(adj, w, 1);
      const two = new Propagation(adj, w, 2);
      comp.watch(two.link?.ctrl);
      const rng = new Rng(w);
      try {
        const [x1, o1, a1] = [one.alloc(n), one.alloc(n), one.alloc(n)];
        const [x2, o2, a2] = [two.alloc(n), two.alloc(n), two.alloc(n)];
        for (let k = 0; k < n; k++) x1[k] = x2[k] = Math.fround(rng.normal());
        for (let r = 1; r <= rounds / 2; r++, done++) {
          const k = rng.int(n);
          x1[k] = x2[k] = Math.fround(rng.normal());
          const acc = r % 2 === 0;
          one.product(x1, o1, acc ? a1 : undefined);
          two.product(x2, o2, acc ? a2 : undefined);
          if (!sameBits(o1, o2) || !sameBits(a1, a2)) fail(`propagation w${w}`, r, 'two threads differ from one');
        }
      } finally {
        await two.close();
      }
    }
    return done;
  });
}

/** The evaluator's ServePool: `clients` concurrent requesters until `rounds` batches went through its link; every answer equals topItems. */
export function stressServePool(rounds: number, comp: Competition, clients = 3): Promise<StressResult> {
  return timed('ServePool (serving worker)', rounds, async () => {
    const rng = new Rng(3);
    const [numUsers, numItems, dim] = [30, 120, 8];
    const table = (n: number): Float32Array => Float32Array.from({ length: n * dim }, () => Math.fround(0.1 * rng.normal()));
    const scorer = dotProductScorer(table(numUsers), table(numItems), dim);
    const seen = csrFromPairs(numUsers, numItems, Array.from({ length: 3 * numUsers }, (_, i) => i % numUsers), Array.from({ length: 3 * numUsers }, (_, i) => (i * 11) % numItems));
    const ref = new Map<string, Int32Array>();
    const want = (u: number, k: number, ex: boolean): Int32Array => {
      const key = `${u}/${k}/${ex}`;
      let w = ref.get(key);
      if (!w) ref.set(key, (w = topItems(scorer, Uint32Array.of(u), k, ex ? [seen as Csr] : []).items));
      return w;
    };
    const pool = new ServePool(1, 4);
    pool.add('m', scorer, seen);
    comp.watch(pool.links[0]!.ctrl);
    try {
      const client = async (c: number): Promise<void> => {
        const r = new Rng(100 + c);
        while (pool.stats.batches < rounds) {
          const [u, k, ex] = [r.int(numUsers), 1 + r.int(12), r.next() < 0.5];
          const got = await pool.recommend('m', u, k, ex);
          if (!sameBits(got.items, want(u, k, ex))) fail('serve', pool.stats.batches, `user ${u} k ${k}: wrong list`);
        }
      };
      await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    } finally {
      await pool.close();
    }
    return pool.stats.batches;
  });
}

/**
 * The ranking pool, synchronously (2 helpers + this thread) and asynchronously (3 helpers), the
 * threads claiming blocks of users (RankTask.claim): every user's top-k vs one-thread
 * runDotTask, and every block claimed exactly once (the claim log), so a block ranked twice or
 * by no thread fails the round.
 */
export function stressRankPool(rounds: number, comp: Competition): Promise<StressResult> {
  return timed('RankPool (claimed blocks)', rounds, async () => {
    const rng = new Rng(5);
    const [numUsers, numItems, dim, k] = [5 * BLOCK + 7, 40, 4, 3];
    const blocks = Math.ceil(numUsers / BLOCK);
    const shared = (n: number): Float32Array => {
      const a = sharedF32(n);
      for (let i = 0; i < n; i++) a[i] = Math.fround(0.1 * rng.normal());
      return a;
    };
    const userEmb = shared(numUsers * dim);
    const itemEmb = shared(numItems * dim);
    const users = sharedU32(numUsers);
    users.forEach((_, i) => (users[i] = i));
    const masks = [csrFromPairs(numUsers, numItems, [0, 1, 2, 3, 200], [5, 6, 7, 8, 9])];
    const top = new Int32Array(new SharedArrayBuffer(4 * numUsers * k));
    const claimLog = new Int32Array(new SharedArrayBuffer(4 * blocks));
    const base: Omit<DotRankTask, 'start' | 'end'> = { userEmb, itemEmb, dim, numItems, masks, users, k, top, claimLog, kernelKey: 'stress' };
    const expected = new Int32Array(numUsers * k);
    runDotTask({ ...base, claimLog: undefined, top: expected, start: 0, end: numUsers });
    const kernel = new DotKernel(itemEmb, numItems, dim);
    const pool = new RankPool();
    let handoffs = 0;
    try {
      for (let r = 1; handoffs < rounds; r++) {
        top.fill(-2);
        claimLog.fill(0);
        if (r % 2) {
          pool.runSync(base, numUsers, 3, kernel);
          handoffs += 2;
        } else {
          await pool.runAsync(base, numUsers, 3);
          handoffs += 3;
        }
        if (r === 2) for (const l of pool.links) comp.watch(l.ctrl);
        const twice = claimLog.findIndex((c) => c !== 1);
        if (twice >= 0) fail('rank', r, `block ${twice} claimed ${claimLog[twice]} times`);
        if (!sameBits(top, expected)) fail('rank', r, 'top-k differs from one thread');
      }
    } finally {
      await pool.close();
    }
    return handoffs;
  });
}

export const STRESS = [stressLink, stressUpdateHelper, stressPropagation, stressServePool, stressRankPool];
