import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { processAlive } from '@robustrec/core';

/**
 * Writes a file atomically: the bytes go to a temporary sibling that is fsynced and then
 * renamed over the target, so readers never see a half-written file.
 */
export function atomicWriteFile(path: string, parts: Array<ArrayBufferView | string>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const p of parts) {
      const buf = typeof p === 'string' ? Buffer.from(p) : new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
      let off = 0;
      while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

const TEMP_RE = /\.tmp-(\d+)-[0-9a-z]+$/;

/**
 * Removes the temporary files atomicWriteFile left in `dir` (not recursive) when its process
 * was killed mid-write: those of processes that no longer run. Returns the names removed.
 */
export function sweepTempFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = TEMP_RE.exec(name);
    if (m && !processAlive(Number(m[1]))) {
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** A directory of artifact files addressed by relative keys (e.g. "datasets/<id>/train.csr"). */
export class ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true });
  }

  path(key: string): string {
    const p = resolve(join(this.root, key));
    if (!p.startsWith(this.root + sep)) throw new Error(`artifact key escapes the store: ${key}`);
    return p;
  }

  has(key: string): boolean {
    return existsSync(this.path(key));
  }

  write(key: string, parts: Array<ArrayBufferView | string>): void {
    atomicWriteFile(this.path(key), parts);
  }

  read(key: string): Buffer {
    return readFileSync(this.path(key));
  }

  remove(key: string): void {
    rmSync(this.path(key), { recursive: true, force: true });
  }
}

/** Copies a typed array's bytes into a fresh, aligned typed array of the given kind. */
export function viewAs<T extends Float32Array | Uint32Array | Int32Array | Float64Array>(
  buf: Buffer,
  Ctor: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
): T {
  const copy = new ArrayBuffer(buf.byteLength);
  new Uint8Array(copy).set(buf);
  return new Ctor(copy);
}
