import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { csrFromPairs, emptyCsr, invalidArgument, notFound, type Csr } from '@robustrec/core';
import { U32Column } from './columns';

export interface LightGcnFile {
  users: Uint32Array;
  items: Uint32Array;
  maxUser: number;
  maxItem: number;
}

/**
 * Parses one LightGCN file ("user item item ..." per line) straight from its bytes: no
 * per-line strings, so the full Gowalla training file parses in tens of milliseconds.
 * A malformed token is INVALID_ARGUMENT naming file:line.
 */
export function parseLightGcnFile(path: string, label = basename(path)): LightGcnFile {
  if (!existsSync(path)) throw notFound('file', path);
  const bytes = readFileSync(path);
  const users = new U32Column(bytes.length / 5);
  const items = new U32Column(bytes.length / 5);
  let maxUser = -1;
  let maxItem = -1;
  let line = 1;
  let tokenInLine = 0; // 0: expecting the user id
  let user = 0;
  let value = -1; // -1: not inside a number
  const n = bytes.length;
  for (let p = 0; p <= n; p++) {
    const c = p < n ? bytes[p]! : 10;
    if (c >= 48 && c <= 57) {
      value = value < 0 ? c - 48 : value * 10 + (c - 48);
      if (value > 0xfffffffe) throw invalidArgument(`${label}:${line}`, 'id too large (max 4294967294)');
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      if (value >= 0) {
        if (tokenInLine === 0) {
          user = value;
          if (user > maxUser) maxUser = user;
        } else {
          users.push(user);
          items.push(value);
          if (value > maxItem) maxItem = value;
        }
        tokenInLine++;
        value = -1;
      }
      if (c === 10) {
        line++;
        tokenInLine = 0;
      }
      continue;
    }
    const shown = c >= 32 && c < 127 ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16)}`;
    throw invalidArgument(`${label}:${line}`, `unexpected ${shown}; expected "user item item ..." with non-negative integer ids`);
  }
  return { users: users.view(), items: items.view(), maxUser, maxItem };
}

export interface LightGcnOptions {
  /** Merge valid.txt into training (the paper's setting) instead of keeping it as the validation split. */
  mergeValidIntoTrain?: boolean;
}

export interface ParsedSplits {
  numUsers: number;
  numItems: number;
  train: Csr;
  valid: Csr;
  test: Csr;
}

/**
 * Reads a LightGCN dataset directory: train.txt and test.txt (required) and valid.txt
 * (optional). numUsers / numItems = max id + 1 over all files read.
 */
export function parseLightGcn(dir: string, opts: LightGcnOptions = {}): ParsedSplits {
  if (!existsSync(join(dir, 'train.txt'))) throw notFound('LightGCN train.txt in', dir);
  if (!existsSync(join(dir, 'test.txt'))) throw notFound('LightGCN test.txt in', dir);
  const train = parseLightGcnFile(join(dir, 'train.txt'));
  const test = parseLightGcnFile(join(dir, 'test.txt'));
  const validPath = join(dir, 'valid.txt');
  const valid = existsSync(validPath) ? parseLightGcnFile(validPath) : undefined;
  const files = [train, test, ...(valid ? [valid] : [])];
  const numUsers = Math.max(...files.map((f) => f.maxUser)) + 1;
  const numItems = Math.max(...files.map((f) => f.maxItem)) + 1;
  if (numUsers === 0 || numItems === 0) throw invalidArgument('train.txt', 'no interactions');
  const csr = (...fs: LightGcnFile[]): Csr => {
    if (fs.length === 1) return csrFromPairs(numUsers, numItems, fs[0]!.users, fs[0]!.items);
    const total = fs.reduce((s, f) => s + f.users.length, 0);
    const u = new Uint32Array(total);
    const i = new Uint32Array(total);
    let off = 0;
    for (const f of fs) {
      u.set(f.users, off);
      i.set(f.items, off);
      off += f.users.length;
    }
    return csrFromPairs(numUsers, numItems, u, i);
  };
  const merge = opts.mergeValidIntoTrain === true && valid !== undefined;
  return {
    numUsers,
    numItems,
    train: merge ? csr(train, valid) : csr(train),
    valid: valid && !merge ? csr(valid) : emptyCsr(numUsers, numItems),
    test: csr(test),
  };
}
