import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { failedPrecondition } from './errors';
import { processAlive } from './util';

/** Directories locked by this process (a second owner in the same process is refused too). */
const held = new Set<string>();

/**
 * Claims `dir` for one owner (a service's state directory), so two processes never run
 * jobs out of the same store: `<dir>/owner.lock` holds the owner's pid and host. A lock whose
 * process is gone (a crash; a restarted container, whose new process may even have the same
 * pid) is taken over; a live owner on this host is refused with FAILED_PRECONDITION naming
 * it. A lock written on another host cannot be checked and is taken over (volumes are not
 * shared between hosts in the deployments; see deploy/). Returns the release function.
 */
export function lockDirectory(dir: string, what: string): () => void {
  const path = join(resolve(dir), 'owner.lock');
  if (held.has(path)) throw failedPrecondition(`${what} directory ${dir} is already in use by this process`);
  mkdirSync(dir, { recursive: true });
  const me = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      let owner: Partial<typeof me> = {};
      try {
        owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<typeof me>;
      } catch {
        // unreadable or half-written: nobody can be shown to own it
      }
      if (owner.host === me.host && typeof owner.pid === 'number' && owner.pid !== me.pid && processAlive(owner.pid))
        throw failedPrecondition(`${what} directory ${dir} is in use by process ${owner.pid} (since ${owner.since ?? '?'}); two ${what}s must not share a directory`);
      rmSync(path, { force: true });
    }
  }
  held.add(path);
  return () => {
    if (!held.delete(path)) return;
    try {
      const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<typeof me>;
      if (owner.pid === me.pid && owner.since === me.since) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  };
}
