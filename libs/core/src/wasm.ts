/**
 * A minimal WebAssembly assembler for the hand-written SIMD kernels (score kernel in
 * @robustrec/metrics, sparse propagation in @robustrec/engine): LEB128 encoding, sections,
 * the opcodes those kernels use, and the few WebAssembly constructors they need.
 */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
export const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

/** Opcodes (with their immediates where fixed). */
export const op = {
  BLOCK: [0x02, 0x40],
  LOOP: [0x03, 0x40],
  IF: [0x04, 0x40],
  END: 0x0b,
  BR: 0x0c,
  BR_IF: 0x0d,
  get: (i: number): number[] => [0x20, ...uleb(i)],
  set: (i: number): number[] => [0x21, ...uleb(i)],
  tee: (i: number): number[] => [0x22, ...uleb(i)],
  i32c: (n: number): number[] => [0x41, ...sleb(n)],
  I32_LOAD: (off: number): number[] => [0x28, ...memarg(2, off)],
  I32_ADD: 0x6a,
  I32_SUB: 0x6b,
  I32_MUL: 0x6c,
  I32_SHL: 0x74,
  I32_GE_U: 0x4f,
  I32_LT_U: 0x49,
  I32_EQZ: 0x45,
  I32_SHR_U: 0x76,
  I32_STORE: (off: number): number[] => [0x36, ...memarg(2, off)],
  F32_LOAD: (off: number): number[] => [0x2a, ...memarg(2, off)],
  F32_GT: 0x5e,
  F32_REINTERPRET_I32: 0xbe,
  V128_LOAD: (off: number): number[] => [0xfd, ...uleb(0x00), ...memarg(4, off)],
  V128_LOAD32_SPLAT: (off: number): number[] => [0xfd, ...uleb(0x09), ...memarg(2, off)],
  V128_STORE: (off: number): number[] => [0xfd, ...uleb(0x0b), ...memarg(4, off)],
  V128_ZERO: [0xfd, ...uleb(0x0c), ...new Array<number>(16).fill(0)],
  F32X4_ADD: [0xfd, ...uleb(0xe4)],
  F32X4_MUL: [0xfd, ...uleb(0xe6)],
  F32X4_SPLAT: [0xfd, ...uleb(0x13)],
  I32X4_ADD: [0xfd, ...uleb(0xae)],
  I32X4_DOT_I16X8_S: [0xfd, ...uleb(0xba)],
  F32X4_CONVERT_I32X4_S: [0xfd, ...uleb(0xfa)],
  F32X4_GT: [0xfd, ...uleb(0x44)],
  V128_OR: [0xfd, ...uleb(0x50)],
  V128_ANY_TRUE: [0xfd, ...uleb(0x53)],
} as const;
function memarg(align: number, offset: number): number[] {
  return [...uleb(align), ...uleb(offset)];
}

/**
 * A module with one exported function `name` of `params` i32 parameters and no result (or
 * one of type `result`), its body `code` with the given local groups ([count, type]: 0x7f
 * i32, 0x7d f32, 0x7b v128), importing env.mem (shared: a shared memory of at most `maxPages`).
 */
export function wasmModuleBytes(
  name: string,
  params: number,
  locals: Array<[number, number]>,
  code: number[],
  memory: { shared: boolean; maxPages?: number },
  result?: number,
): Uint8Array {
  const body = [...uleb(locals.length), ...locals.flatMap(([n, t]) => [...uleb(n), t]), ...code, op.END];
  const limits = memory.shared ? [0x03, ...uleb(1), ...uleb(memory.maxPages ?? 65536)] : [0x00, ...uleb(1)];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, ...uleb(params), ...new Array<number>(params).fill(0x7f), ...(result === undefined ? [0] : [1, result])]),
    ...section(2, [1, ...str('env'), ...str('mem'), 0x02, ...limits]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...str(name), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

// The workspace compiles without the DOM lib, whose types carry WebAssembly: the few
// constructors used, typed locally.
export interface WasmMemory {
  buffer: ArrayBuffer | SharedArrayBuffer;
}
export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
