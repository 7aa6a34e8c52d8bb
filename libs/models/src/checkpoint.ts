import { RrError } from '@robustrec/core';
import type { Checkpoint } from './trainer';

const MAGIC = 'RRCK0001';

/**
 * Binary checkpoint: "RRCK0001", u32 header length, JSON header {epoch, state, tensors:
 * [[name, length]]}, padding to 4 bytes, then the float32 tensors back to back (bit-exact).
 */
export function encodeCheckpoint(c: Checkpoint): Buffer {
  const names = Object.keys(c.tensors).sort();
  const header = Buffer.from(JSON.stringify({ epoch: c.epoch, state: c.state, tensors: names.map((n) => [n, c.tensors[n].length]) }), 'utf8');
  const headEnd = 12 + header.length;
  const dataStart = (headEnd + 3) & ~3;
  const total = dataStart + names.reduce((s, n) => s + c.tensors[n].length * 4, 0);
  const out = Buffer.alloc(total);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 12);
  let off = dataStart;
  for (const n of names) {
    const t = c.tensors[n];
    Buffer.from(t.buffer, t.byteOffset, t.byteLength).copy(out, off);
    off += t.byteLength;
  }
  return out;
}

export function decodeCheckpoint(b: Buffer): Checkpoint {
  const bad = (why: string): RrError => new RrError('FAILED_PRECONDITION', `checkpoint is corrupt: ${why}`);
  if (b.length < 12 || b.toString('latin1', 0, 8) !== MAGIC) throw bad('bad magic');
  const hl = b.readUInt32LE(8);
  if (12 + hl > b.length) throw bad('truncated header');
  let head: { epoch: number; state: unknown; tensors: Array<[string, number]> };
  try {
    head = JSON.parse(b.toString('utf8', 12, 12 + hl));
  } catch {
    throw bad('unreadable header');
  }
  let off = (12 + hl + 3) & ~3;
  const tensors: Record<string, Float32Array> = {};
  for (const [name, len] of head.tensors) {
    if (off + len * 4 > b.length) throw bad(`truncated tensor ${name}`);
    const t = new Float32Array(len);
    new Uint8Array(t.buffer).set(b.subarray(off, off + len * 4));
    tensors[name] = t;
    off += len * 4;
  }
  if (off !== b.length) throw bad('trailing bytes');
  return { epoch: head.epoch, state: head.state, tensors };
}
