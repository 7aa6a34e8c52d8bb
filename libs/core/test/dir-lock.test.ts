import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockDirectory } from '../src';

describe('lockDirectory (one owner per state directory)', () => {
  const dirs: string[] = [];
  const fresh = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'rr-lock-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('refuses a second owner in this process until the first releases', () => {
    const dir = fresh();
    const release = lockDirectory(dir, 'trainer');
    expect(JSON.parse(readFileSync(join(dir, 'owner.lock'), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(() => lockDirectory(dir, 'trainer')).toThrow(expect.objectContaining({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('already in use by this process') }));
    release();
    expect(existsSync(join(dir, 'owner.lock'))).toBe(false);
    lockDirectory(dir, 'trainer')();
  });

  it('refuses a live process on this host, naming it, and takes over once it is gone', async () => {
    const dir = fresh();
    const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, 'owner.lock'), JSON.stringify({ pid: owner.pid, host: hostname(), since: 'earlier' }));
      expect(() => lockDirectory(dir, 'trainer')).toThrow(expect.objectContaining({ code: 'FAILED_PRECONDITION', message: expect.stringContaining(`in use by process ${owner.pid}`) }));
    } finally {
      owner.kill('SIGKILL');
      await new Promise((r) => owner.once('exit', r));
    }
    // the owner died without releasing (a crash): its lock is stale
    const release = lockDirectory(dir, 'trainer');
    expect(JSON.parse(readFileSync(join(dir, 'owner.lock'), 'utf8')).pid).toBe(process.pid);
    release();
  });

  it('takes over an unreadable lock, one from another host, and one with its own pid (a restarted container)', () => {
    for (const content of ['{half', JSON.stringify({ pid: 1, host: 'elsewhere' }), JSON.stringify({ pid: process.pid, host: hostname(), since: 'before the restart' })]) {
      const dir = fresh();
      writeFileSync(join(dir, 'owner.lock'), content);
      lockDirectory(dir, 'trainer')();
    }
  });
});
