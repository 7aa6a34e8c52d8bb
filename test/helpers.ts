import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@robustrec/core';

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'robustrec-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A currently free loopback port (for child processes that need a fixed address). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Runs a TypeScript entry point of the repo as a separate Node process (tsx loader). */
export function spawnTs(entry: string, args: string[], env: Record<string, string> = {}): ChildProcess & { output(): string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, entry), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

/** Resolves when `predicate(output)` holds, rejects after timeoutMs or when the process exits first. */
export function waitForOutput(child: ChildProcess & { output(): string }, predicate: (out: string) => boolean, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (predicate(child.output())) {
        clearInterval(timer);
        clearTimeout(to);
        resolve(child.output());
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        clearTimeout(to);
        reject(new Error(`process exited (${child.exitCode}) before the expected output:\n${child.output()}`));
      }
    }, 50);
    const to = setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`timed out waiting for output:\n${child.output()}`));
    }, timeoutMs);
  });
}

/** Waits for a child process to exit; returns its exit code. */
export function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}
