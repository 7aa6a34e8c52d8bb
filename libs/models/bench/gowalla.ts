import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { csrFromPairs, gowallaDir, type Csr } from '@robustrec/core';

/** Gowalla for the training benches: train ∪ valid as the training matrix, test held out. */
// A local LightGCN-format reader ("user item item ..."): libs/models does not depend on libs/data.
function readLightGcn(path: string): Array<[number, number[]]> {
  const out: Array<[number, number[]]> = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const t = line.trim().split(/\s+/).filter(Boolean).map(Number);
    if (t.length) out.push([t[0], t.slice(1)]);
  }
  return out;
}

export function load(): { train: Csr; test: Csr } {
  const dir = gowallaDir();
  if (!dir) throw new Error('Gowalla not found (datasetsDir()/gowalla)');
  const files = { train: readLightGcn(join(dir, 'train.txt')), valid: readLightGcn(join(dir, 'valid.txt')), test: readLightGcn(join(dir, 'test.txt')) };
  let nu = 0, ni = 0;
  for (const f of Object.values(files))
    for (const [u, items] of f) {
      nu = Math.max(nu, u + 1);
      for (const i of items) ni = Math.max(ni, i + 1);
    }
  const build = (...fs: Array<Array<[number, number[]]>>): Csr => {
    const r: number[] = [], c: number[] = [];
    for (const f of fs) for (const [u, items] of f) for (const i of items) { r.push(u); c.push(i); }
    return csrFromPairs(nu, ni, r, c);
  };
  return { train: build(files.train, files.valid), test: build(files.test) };
}

