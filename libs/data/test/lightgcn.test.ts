import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gowallaDir, rowOf, RrError } from '@robustrec/core';
import { parseLightGcn, parseLightGcnFile } from '../src';
import { rows, scratch } from './helpers';

const tmp = scratch();
afterAll(() => tmp.cleanup());

function dataset(name: string, files: Record<string, string>): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

describe('LightGCN format', () => {
  it('parses train/valid/test with numUsers/numItems = max id + 1 over all files', () => {
    const dir = dataset('small', {
      'train.txt': '0 1 2 3\n1 0 4\n\n3 2\n', // user 2 absent from train
      'valid.txt': '0 5\r\n1 1\r\n',
      'test.txt': '0 7\n2 6 6\n1\n', // duplicate item collapses; a user line without items is allowed
    });
    const d = parseLightGcn(dir);
    expect(d.numUsers).toBe(4);
    expect(d.numItems).toBe(8);
    expect(rows(d.train)).toEqual([[1, 2, 3], [0, 4], [], [2]]);
    expect(rows(d.valid)).toEqual([[5], [1], [], []]);
    expect(rows(d.test)).toEqual([[7], [], [6], []]);
    const merged = parseLightGcn(dir, { mergeValidIntoTrain: true });
    expect(rows(merged.train)).toEqual([[1, 2, 3, 5], [0, 1, 4], [], [2]]);
    expect(merged.valid.indices.length).toBe(0);
  });

  it('treats valid.txt as optional', () => {
    const d = parseLightGcn(dataset('novalid', { 'train.txt': '0 1\n1 0\n', 'test.txt': '0 0\n1 1' }));
    expect(d.valid.indices.length).toBe(0);
    expect(d.test.indices.length).toBe(2);
  });

  it('names file and line of a malformed token (INVALID_ARGUMENT)', () => {
    const dir = dataset('bad', { 'train.txt': '0 1 2\n1 3\n2 4 x5\n', 'test.txt': '0 1\n' });
    const err = (() => {
      try {
        parseLightGcn(dir);
      } catch (e) {
        return e as RrError;
      }
    })();
    expect(err).toBeInstanceOf(RrError);
    expect(err!.code).toBe('INVALID_ARGUMENT');
    expect(err!.message).toMatch(/^train\.txt:3: unexpected 'x'/);
    expect(() => parseLightGcnFile(join(dataset('neg', { 'test.txt': '0 -1\n' }), 'test.txt'))).toThrow(/test\.txt:1/);
  });

  it('reports a missing train.txt/test.txt as NOT_FOUND', () => {
    const dir = dataset('missing', { 'train.txt': '0 1\n' });
    expect(() => parseLightGcn(dir)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it.skipIf(!gowallaDir())('imports the full Gowalla with the published counts', () => {
    const dir = gowallaDir()!;
    const d = parseLightGcn(dir);
    expect([d.numUsers, d.numItems]).toEqual([29_858, 40_981]);
    expect(d.train.indices.length + d.valid.indices.length).toBe(810_128);
    expect(d.test.indices.length).toBe(217_242);
    expect(d.train.indices.length + d.valid.indices.length + d.test.indices.length).toBe(1_027_370);
    // cross-check one user against the text itself
    const line = readFileSync(join(dir, 'test.txt'), 'utf8').split('\n')[123]!.trim().split(/\s+/).map(Number);
    expect(Array.from(rowOf(d.test, line[0]!))).toEqual([...new Set(line.slice(1))].sort((a, b) => a - b));
  });
});
