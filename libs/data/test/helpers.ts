import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temp dir per test file, with a writer for small fixture files. */
export function scratch(prefix = 'rr-data-'): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write: (name, text) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** CSR rows as plain arrays, for readable assertions. */
export const rows = (m: { numRows: number; indptr: Uint32Array; indices: Uint32Array }): number[][] =>
  Array.from({ length: m.numRows }, (_, r) => Array.from(m.indices.subarray(m.indptr[r]!, m.indptr[r + 1]!)));
