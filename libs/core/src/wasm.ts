import { readFileSync } from 'node:fs';

/**
 * The platform's WebAssembly kernels are written as .wat text beside the code that calls
 * them (libs/scoring/src/score.wat, libs/engine/src/spmm.wat) and compiled at build time by
 * tools/wat2wasm.mjs (the wabt toolchain, an nx `generate` target) to src/gen/<name>.wasm.
 */

// The workspace compiles without the DOM lib, whose types carry WebAssembly: the few
// constructors used, typed locally.
export interface WasmMemory {
  buffer: ArrayBuffer | SharedArrayBuffer;
  /** Grows by `delta` pages (64 KiB); returns the previous size in pages. */
  grow(delta: number): number;
}
export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const modules = new Map<string, object>();

/** A compiled kernel module (read and compiled once per thread); `url` names its .wasm build output. */
export function wasmModule(url: URL): object {
  let m = modules.get(url.href);
  if (!m) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(url);
    } catch (e) {
      throw new Error(`WebAssembly kernel ${url.pathname.split('/').slice(-3).join('/')} is not built: run \`npm run generate\` (${(e as NodeJS.ErrnoException).code})`);
    }
    modules.set(url.href, (m = new wasm.Module(bytes)));
  }
  return m;
}
