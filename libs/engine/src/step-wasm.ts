import { wasm, wasmModule, type WasmMemory } from '@robustrec/core';
import { MemoryTag, type WasmArena } from './arena';
import type { RowJob } from './kernels';

// The kernels' source: step.wat beside this file (compiled to gen/step.wasm at build time).
const STEP_WASM = new URL('./gen/step.wasm', import.meta.url);

type I = number;
interface StepFns {
  gather(table: I, w: I, rows: I, out: I, from: I, to: I): void;
  dots(eu: I, ei: I, ej: I, w: I, sp: I, sn: I, from: I, to: I): void;
  bpr_grad(eu: I, ei: I, ej: I, w: I, c: I, gu: I, gi: I, gj: I, from: I, to: I): void;
  perturb(src: I, g: I, eps: I, epsScalar: number, w: I, out: I, from: I, to: I): void;
  l2(x: I, g: I, w: I, c: number, sums: I, from: I, to: I): void;
  scatter(grad: I, w: I, slots: I, src: I, scale: number, n: I): void;
  adam(data: I, grad: I, m: I, v: I, last: I, touched: I, fac: I, w: I, q0: I, q1: I, stride: I, t: I, b1: number, b2: number, stepSize: number, bc2: number, eps: number, decay: number, exact: I): number;
}

/** log(1 + e^x) without overflow. */
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/**
 * One thread's instance of the step kernels (step.wat) over a WasmArena's shared memory. A
 * job runs here when every array it names lives in the arena and its width is a multiple
 * of 4; otherwise `run` answers false and the JS kernels (kernels.ts) run it.
 */
export class WasmStep {
  readonly fns: StepFns;
  private readonly tag: MemoryTag;
  private scratch: Uint32Array | undefined;

  constructor(
    readonly memory: WasmMemory,
    /** The trainer thread's arena, for its own scratch (undefined in a helper thread). */
    private readonly arena?: WasmArena,
  ) {
    this.fns = new wasm.Instance(wasmModule(STEP_WASM), { env: { mem: memory } }).exports as unknown as StepFns;
    this.tag = new MemoryTag(memory);
  }

  static forArena(arena: WasmArena): WasmStep {
    return new WasmStep(arena.memory, arena);
  }

  owns(a: ArrayBufferView | undefined): boolean {
    return a === undefined || this.tag.owns(a);
  }

  /** Row jobs this thread ran in wasm, and those it handed back to the JS kernels (provenance). */
  readonly ran = { wasm: 0, js: 0 };

  /** Runs a row job on rows [from, to) in wasm; false when it cannot (the caller runs the JS kernel). */
  run(j: RowJob, from: number, to: number): boolean {
    const ok = this.tryRun(j, from, to);
    this.ran[ok ? 'wasm' : 'js']++;
    return ok;
  }

  private tryRun(j: RowJob, from: number, to: number): boolean {
    if (j.width % 4 !== 0) return false;
    const f = this.fns;
    switch (j.op) {
      case 'gather':
        if (!this.owns(j.table) || !this.owns(j.rows) || !this.owns(j.out)) return false;
        f.gather(j.table.byteOffset, j.width, j.rows.byteOffset, j.out.byteOffset, from, to);
        return true;
      case 'perturb': {
        const eps = typeof j.eps === 'number' ? undefined : j.eps;
        if (!this.owns(j.src) || !this.owns(j.g) || !this.owns(eps) || !this.owns(j.out)) return false;
        f.perturb(j.src.byteOffset, j.g.byteOffset, eps ? eps.byteOffset : 0, typeof j.eps === 'number' ? j.eps : 0, j.width, j.out.byteOffset, from, to);
        return true;
      }
      case 'l2':
        if (!this.owns(j.x) || !this.owns(j.g) || !this.owns(j.sums)) return false;
        f.l2(j.x.byteOffset, j.g.byteOffset, j.width, j.c, j.sums.byteOffset, from, to);
        return true;
      case 'bpr': {
        const t = j.tmp;
        if (!t || ![j.eu, j.ei, j.ej, j.gu, j.gi, j.gj, j.loss, j.posScores, t].every((a) => this.owns(a))) return false;
        // sp, sn and the coefficients per row: tmp = [sp | sn | c], each n long
        const n = t.length / 3;
        const [sp, sn, c] = [t.subarray(0, n), t.subarray(n, 2 * n), t.subarray(2 * n)];
        f.dots(j.eu.byteOffset, j.ei.byteOffset, j.ej.byteOffset, j.width, sp.byteOffset, sn.byteOffset, from, to);
        for (let b = from; b < to; b++) {
          const x = sp[b]! - sn[b]!;
          j.loss[b] = softplus(-x);
          if (j.posScores) j.posScores[b] = sp[b]!;
          // d softplus(-x)/dx = -sigmoid(-x)
          c[b] = (-1 / (1 + Math.exp(x))) * j.scale;
        }
        f.bpr_grad(j.eu.byteOffset, j.ei.byteOffset, j.ej.byteOffset, j.width, c.byteOffset, j.gu.byteOffset, j.gi.byteOffset, j.gj.byteOffset, from, to);
        return true;
      }
    }
  }

  /** A u32 scratch of at least n in the arena (the trainer thread's). */
  slots(n: number): Uint32Array {
    if (!this.arena) throw new Error('WasmStep.slots: only the trainer thread allocates');
    if (!this.scratch || this.scratch.length < n) this.scratch = this.arena.u32(Math.max(n, 2 * (this.scratch?.length ?? 0)));
    return this.scratch;
  }
}
