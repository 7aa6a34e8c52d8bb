import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkMemory, formatBytes, memoryBudget, parseBytes, realPath, resolveUnderRoots, RrError } from '../src';

describe('resolveUnderRoots compares real paths', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rr-roots-'));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'data'), { recursive: true });
  writeFileSync(join(root, 'data', 'a.json'), '{}');
  symlinkSync('/etc', join(root, 'etc'));
  symlinkSync(join(root, 'data'), join(dir, 'alias')); // a root given through a link
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a symlink inside a root that leads out of it, without echoing the path', () => {
    for (const p of [join(root, 'etc', 'passwd'), join(root, 'etc'), 'etc/passwd'])
      expect(() => resolveUnderRoots(p, [root])).toThrow(new RrError('PERMISSION_DENIED', `path: outside the configured data roots (${root})`));
  });

  it('accepts files under a root, also when the root itself is reached through a link, and returns the real path', () => {
    expect(resolveUnderRoots(join(root, 'data', 'a.json'), [root])).toBe(realPath(join(root, 'data', 'a.json')));
    expect(resolveUnderRoots(join(dir, 'alias', 'a.json'), [join(dir, 'alias')])).toBe(realPath(join(root, 'data', 'a.json')));
    // not created yet: the existing prefix is resolved, the rest kept
    expect(resolveUnderRoots(join(root, 'data', 'new', 'x.txt'), [root])).toBe(join(realPath(root), 'data', 'new', 'x.txt'));
  });

  it('refuses NUL characters and unresolvable paths with INVALID_ARGUMENT', () => {
    expect(() => resolveUnderRoots(join(root, 'a\0b'), [root])).toThrow(/path: contains a NUL character/);
    symlinkSync(join(root, 'loop'), join(root, 'loop'));
    expect(() => resolveUnderRoots(join(root, 'loop', 'x'), [root])).toThrow(/path: cannot be resolved \(ELOOP\)/);
  });
});

describe('memory budget', () => {
  it('parses sizes and refuses what exceeds the budget, naming the field', () => {
    expect(parseBytes('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseBytes('512 MiB')).toBe(512 * 1024 ** 2);
    expect(parseBytes('1.5GB')).toBe(1.5e9);
    expect(parseBytes('4096')).toBe(4096);
    expect(() => parseBytes('lots')).toThrow(/ROBUSTREC_MEMORY_BUDGET: expected a positive size/);
    expect(memoryBudget(1234)).toBe(1234);
    expect(() => memoryBudget(-1)).toThrow(RrError);
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(() => checkMemory('k', 2 * 1024 ** 3, 1024 ** 3, 'top-k lists')).toThrow(
      new RrError('RESOURCE_EXHAUSTED', "k: top-k lists would need about 2.00 GiB, more than this service's memory budget of 1.00 GiB (ROBUSTREC_MEMORY_BUDGET)"),
    );
    expect(() => checkMemory('k', Number.NaN, 1024)).toThrow(/RESOURCE_EXHAUSTED|k:/);
    expect(() => checkMemory('k', 10, 1024)).not.toThrow();
  });
});
