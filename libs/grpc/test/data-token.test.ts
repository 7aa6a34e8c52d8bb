import { afterAll, describe, expect, it } from 'vitest';
import { Metadata } from '@grpc/grpc-js';
import { common } from '@robustrec/contracts';
import { RrError, startTsWorker } from '@robustrec/core';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { authorizeDatasetRead, DATA_TOKEN_KEY_ENV, DATA_TOKEN_METADATA, dataTokenKey, mintDataToken, verifyDataToken } from '../src/data-token';

const { SPLIT_TRAIN: TRAIN, SPLIT_VALID: VALID, SPLIT_TEST: TEST } = common.Split;
const key = Buffer.from('k'.repeat(40));
const later = Date.now() + 60_000;

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RrError);
    return `${(e as RrError).code}: ${(e as RrError).message}`;
  }
  return 'ok';
};

const withToken = (token?: string): Metadata => {
  const m = new Metadata();
  if (token !== undefined) m.set(DATA_TOKEN_METADATA, token);
  return m;
};

describe('data access tokens', () => {
  it('round-trip their scope, and refuse forged, foreign-key, expired and malformed tokens without echoing them', () => {
    const t = mintDataToken(key, { datasetId: 'ds1', splits: [TRAIN], expiresAtMs: later });
    expect(t.length).toBeLessThan(256); // fits the request guard's cap on *_token fields
    expect(verifyDataToken(key, t)).toMatchObject({ datasetId: 'ds1', splits: [TRAIN] });
    const [v, payload, sig] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ d: 'ds1', s: [1, 2, 3], e: 9e9 })).toString('base64url');
    expect(codeOf(() => verifyDataToken(key, `${v}.${forged}.${sig}`))).toMatch(/^UNAUTHENTICATED: .*signature does not verify/);
    expect(codeOf(() => verifyDataToken(Buffer.from('x'.repeat(40)), t))).toMatch(/^UNAUTHENTICATED: .*another key/);
    expect(codeOf(() => verifyDataToken(key, t, later + 1000))).toMatch(/^UNAUTHENTICATED: .*expired/);
    expect(codeOf(() => verifyDataToken(key, 'nonsense'))).toMatch(/^UNAUTHENTICATED: .*malformed/);
    expect(codeOf(() => verifyDataToken(key, `${v}.${payload}`))).toMatch(/^UNAUTHENTICATED/);
    expect(codeOf(() => verifyDataToken(key, 'x'.repeat(5000)))).toMatch(/^UNAUTHENTICATED/);
    expect(codeOf(() => verifyDataToken(key, `${v}.${forged}.${sig}`))).not.toContain(sig!);
  });

  it('authorizeDatasetRead: a token reads its dataset and splits only; no token is a platform caller', () => {
    const black = mintDataToken(key, { datasetId: 'ds1', splits: [TRAIN], expiresAtMs: later });
    const white = mintDataToken(key, { datasetId: 'ds1', splits: [TRAIN, VALID, TEST], expiresAtMs: later });
    const read = (token: string | undefined, datasetId: string, splits: common.Split[]) => codeOf(() => authorizeDatasetRead(withToken(token), { datasetId, splits }, key));
    expect(read(black, 'ds1', [TRAIN])).toBe('ok');
    expect(read(black, 'ds1', [])).toBe('ok'); // GetDataset: metadata only
    expect(read(black, 'ds1', [TRAIN, TEST])).toMatch(/^PERMISSION_DENIED: .*grants SPLIT_TRAIN only, not SPLIT_TEST/);
    expect(read(black, 'ds1', [VALID])).toMatch(/^PERMISSION_DENIED/);
    expect(read(black, 'ds2', [TRAIN])).toMatch(/^PERMISSION_DENIED: .*another dataset/);
    expect(read(white, 'ds1', [TRAIN, VALID, TEST])).toBe('ok');
    expect(read(white, 'ds2', [TRAIN])).toMatch(/^PERMISSION_DENIED/);
    expect(read(undefined, 'ds2', [TEST])).toBe('ok');
    expect(read('garbage', 'ds1', [TRAIN])).toMatch(/^UNAUTHENTICATED/);
    const twice = withToken(black);
    twice.add(DATA_TOKEN_METADATA, black);
    expect(codeOf(() => authorizeDatasetRead(twice, { datasetId: 'ds1', splits: [TRAIN] }, key))).toMatch(/^UNAUTHENTICATED: .*more than once/);
  });

  it('authorizeDatasetRead: with a platform bearer token, leaving the data token out does not make a caller the platform', () => {
    const sec = { token: 'platform-secret-1', acceptTokens: ['platform-secret-0'] };
    const md = (bearer?: string, dataToken?: string): Metadata => {
      const m = withToken(dataToken);
      if (bearer) m.set('authorization', `Bearer ${bearer}`);
      return m;
    };
    const read = (m: Metadata, splits: common.Split[]) => codeOf(() => authorizeDatasetRead(m, { datasetId: 'ds1', splits }, key, sec));
    expect(read(md(), [TEST])).toMatch(/^UNAUTHENTICATED: .*needs the platform bearer token/);
    expect(read(md('guess'), [TEST])).toMatch(/^PERMISSION_DENIED/);
    expect(read(md('guess'), [TEST])).not.toContain('platform-secret');
    expect(read(md('platform-secret-1'), [TEST])).toBe('ok');
    expect(read(md('platform-secret-0'), [TEST])).toBe('ok'); // rotation
    // a generator's data token still reads exactly its scope, with or without a bearer token
    const black = mintDataToken(key, { datasetId: 'ds1', splits: [TRAIN], expiresAtMs: later });
    expect(read(md(undefined, black), [TRAIN])).toBe('ok');
    expect(read(md(undefined, black), [TEST])).toMatch(/^PERMISSION_DENIED/);
  });

  const homes: string[] = [];
  afterAll(() => {
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });
  const home = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'rr-key-'));
    homes.push(h);
    return h;
  };

  it('the key: explicit or from the environment, else created once per home (mode 0600) and then reused', () => {
    expect(dataTokenKey(home(), 'e'.repeat(32)).toString()).toBe('e'.repeat(32));
    expect(codeOf(() => dataTokenKey(home(), 'short'))).toMatch(/^INVALID_ARGUMENT: .*at least 32 characters/);
    const saved = process.env[DATA_TOKEN_KEY_ENV];
    process.env[DATA_TOKEN_KEY_ENV] = 'v'.repeat(33);
    try {
      expect(dataTokenKey(home()).toString()).toBe('v'.repeat(33));
    } finally {
      if (saved === undefined) delete process.env[DATA_TOKEN_KEY_ENV];
      else process.env[DATA_TOKEN_KEY_ENV] = saved;
    }
    const h = home();
    const k = dataTokenKey(h);
    expect(k.length).toBe(64);
    expect(dataTokenKey(h).equals(k)).toBe(true);
    expect(statSync(join(h, 'secrets', 'data-token.key')).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(h, 'secrets'))).toEqual(['data-token.key']); // no temporary file left
  });

  // The invariant (dataTokenKey's comment): however many threads or processes create a home's
  // key at once, they all end up with the same key. A check-then-write version fails this.
  it('threads racing to create a fresh home key all get the same key', async () => {
    const WORKERS = 4;
    const ROUNDS = Number(process.env.ROBUSTREC_KEY_RACE_ROUNDS ?? 80);
    const workers: Worker[] = Array.from({ length: WORKERS }, () => startTsWorker(new URL('./key-worker.ts', import.meta.url), {}));
    try {
      const start = new Int32Array(new SharedArrayBuffer(4));
      for (let round = 1; round <= ROUNDS; round++) {
        const h = home();
        const msgs = workers.map(
          (w) =>
            new Promise<{ ready: Promise<void>; key: Promise<string> }>((resolveAll) => {
              let ready!: () => void;
              const readyP = new Promise<void>((r) => (ready = r));
              const keyP = new Promise<string>((resolveKey) => {
                const on = (m: { ready?: number; round?: number; key?: string }): void => {
                  if (m.ready === round) ready();
                  if (m.round === round) {
                    w.off('message', on);
                    resolveKey(m.key!);
                  }
                };
                w.on('message', on);
              });
              w.postMessage({ home: h, round, start });
              resolveAll({ ready: readyP, key: keyP });
            }),
        );
        const pending = await Promise.all(msgs);
        await Promise.all(pending.map((p) => p.ready));
        Atomics.store(start, 0, round);
        Atomics.notify(start, 0);
        const keys = await Promise.all(pending.map((p) => p.key));
        expect(keys.every((k) => !k.startsWith('error'))).toBe(true);
        expect(new Set(keys).size, `round ${round}: ${keys.join(' / ')}`).toBe(1);
        expect(dataTokenKey(h).toString()).toBe(keys[0]);
      }
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }, 120_000);
});
