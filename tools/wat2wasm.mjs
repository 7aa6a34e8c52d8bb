#!/usr/bin/env node
// Compiles a package's WebAssembly kernels from their text form: every src/*.wat of the
// package directory given (default: the current one) to src/gen/<name>.wasm, with the wabt
// toolchain from npm. Run by the package's nx `generate` target (cached on the .wat files),
// so the binaries are build outputs, never committed or edited.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import initWabt from 'wabt';

const pkg = resolve(process.argv[2] ?? '.');
const src = join(pkg, 'src');
const out = join(src, 'gen');
const wabt = await initWabt();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const file of readdirSync(src).filter((f) => f.endsWith('.wat'))) {
  const path = join(src, file);
  // SIMD for the kernels, threads for the shared memory of the propagation arena
  const features = { simd: true, threads: true };
  const mod = wabt.parseWat(path, readFileSync(path, 'utf8'), features);
  try {
    mod.resolveNames();
    mod.validate(features);
    const { buffer } = mod.toBinary({ log: false, write_debug_names: true });
    writeFileSync(join(out, file.replace(/\.wat$/, '.wasm')), buffer);
  } finally {
    mod.destroy();
  }
}
