import type { Metadata } from '@grpc/grpc-js';
import { common } from '@robustrec/contracts';
import { invalidArgument, permissionDenied, RrError } from '@robustrec/core';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { acceptedTokens, bearerToken, defaultSecurity, tokenMatches, type SecurityConfig } from './security';

/**
 * Data access tokens: what an attack generator presents to the data service to read the
 * dataset it attacks (docs/plugins.md, "What a generator may read").
 *
 * The attack service mints one per generation, scoped to one dataset, to the splits the
 * generator may read (TRAIN for black-box generators, every split for white-box ones) and to
 * the generation's deadline; the data service checks it on FetchDataset and GetDataset
 * (authorizeDatasetRead, the one place where a read is allowed or refused). A token is
 * "rr1.<payload>.<signature>": the payload is base64url JSON {d: dataset id, s: split numbers,
 * e: expiry in Unix seconds}, the signature HMAC-SHA256 of "rr1.<payload>" under a key the two
 * services share (dataTokenKey). Nothing here ever logs or echoes a key or a token.
 */

/** The gRPC metadata entry carrying the token on FetchDataset / GetDataset. */
export const DATA_TOKEN_METADATA = 'robustrec-data-token';
/** The shared key itself (at least 32 characters); takes precedence over the file. */
export const DATA_TOKEN_KEY_ENV = 'ROBUSTREC_DATA_TOKEN_KEY';
/** A file holding the shared key (e.g. a mounted Kubernetes Secret). */
export const DATA_TOKEN_KEY_FILE_ENV = 'ROBUSTREC_DATA_TOKEN_KEY_FILE';

const VERSION = 'rr1';
const MIN_KEY_CHARS = 32;
/** Longer tokens are refused before any work (a token is ~150 characters). */
const MAX_TOKEN_CHARS = 1024;

export interface DataTokenScope {
  datasetId: string;
  splits: common.Split[];
  /** Expiry, milliseconds since the epoch (rounded up to a second). */
  expiresAtMs: number;
}

const SPLITS = [common.Split.SPLIT_TRAIN, common.Split.SPLIT_VALID, common.Split.SPLIT_TEST];
const splitName = (s: common.Split): string => common.splitToJSON(s);

const sign = (key: Buffer, body: string): string => createHmac('sha256', key).update(body).digest('base64url');

/** A token for `scope` signed with `key`. */
export function mintDataToken(key: Buffer, scope: DataTokenScope): string {
  const payload = Buffer.from(JSON.stringify({ d: scope.datasetId, s: [...new Set(scope.splits)].sort(), e: Math.ceil(scope.expiresAtMs / 1000) })).toString('base64url');
  const body = `${VERSION}.${payload}`;
  return `${body}.${sign(key, body)}`;
}

const unauthenticated = (why: string): RrError => new RrError('UNAUTHENTICATED', `${DATA_TOKEN_METADATA}: ${why}`);

/**
 * The scope of a token signed with `key`; UNAUTHENTICATED when it is malformed, forged, signed
 * with another key or expired (the message never repeats the token).
 */
export function verifyDataToken(key: Buffer, token: string, nowMs = Date.now()): DataTokenScope {
  if (token.length > MAX_TOKEN_CHARS) throw unauthenticated(`malformed token (${token.length} characters)`);
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) throw unauthenticated('malformed token (expected rr1.<payload>.<signature>)');
  const expected = Buffer.from(sign(key, `${parts[0]}.${parts[1]}`));
  const given = Buffer.from(parts[2]!);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw unauthenticated('signature does not verify (forged, or minted with another key: the attack and data services must share ROBUSTREC_DATA_TOKEN_KEY)');
  let p: { d?: unknown; s?: unknown; e?: unknown };
  try {
    p = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as typeof p;
  } catch {
    throw unauthenticated('malformed payload');
  }
  if (typeof p.d !== 'string' || !Array.isArray(p.s) || !p.s.every((s) => SPLITS.includes(s as common.Split)) || typeof p.e !== 'number')
    throw unauthenticated('malformed payload');
  if (p.e * 1000 <= nowMs) throw unauthenticated("expired (a token lasts until its generation's deadline)");
  return { datasetId: p.d, splits: p.s as common.Split[], expiresAtMs: p.e * 1000 };
}

/**
 * Whether the caller of FetchDataset / GetDataset may read these splits of this dataset. The
 * one place where the data service decides a read, so that other credentials (bearer tokens of
 * the platform's own services, issue 19) are combined here:
 * - a caller with a data token reads what the token's scope grants, nothing else
 *   (UNAUTHENTICATED for a bad token, PERMISSION_DENIED outside its scope);
 * - a caller without one is, today, one of the platform's own services (trainer, evaluator,
 *   attack service, the CLI) and reads everything. A generator that omits its token is
 *   therefore not stopped by the data service: the black-box guarantee against a hostile
 *   generator needs the data service to be unreachable anonymously from it (network policy),
 *   until platform callers authenticate and anonymous reads can be refused here.
 */
export function authorizeDatasetRead(
  metadata: Metadata,
  want: { datasetId: string; splits: readonly common.Split[] },
  key: Buffer,
  sec: SecurityConfig = defaultSecurity(),
): void {
  const values = metadata.get(DATA_TOKEN_METADATA);
  if (values.length === 0) {
    // No data token: a platform caller. When the platform has a bearer token, that caller must
    // prove it with the token (so a generator cannot read TEST by leaving its data token out);
    // without one (loopback development) every caller is the platform.
    const platform = acceptedTokens(sec);
    if (!platform.length) return;
    const given = bearerToken(metadata);
    if (!given) throw unauthenticated('absent: a read without a data token needs the platform bearer token (authorization: Bearer <token>)');
    if (!tokenMatches(given, platform)) throw permissionDenied('authorization: the bearer token is not accepted here (and no data token was sent)');
    return;
  }
  if (values.length > 1) throw unauthenticated('sent more than once');
  const token = values[0];
  if (typeof token !== 'string') throw unauthenticated('must be a text metadata entry');
  const scope = verifyDataToken(key, token);
  if (scope.datasetId !== want.datasetId) throw permissionDenied(`${DATA_TOKEN_METADATA}: this token grants another dataset, not ${want.datasetId.slice(0, 64)}`);
  const refused = want.splits.filter((s) => !scope.splits.includes(s));
  if (refused.length)
    throw permissionDenied(
      `${DATA_TOKEN_METADATA}: this token grants ${scope.splits.map(splitName).join(', ')} only, not ${refused.map(splitName).join(', ')} (a black-box generator reads the training split; ask FetchDataset for splits [SPLIT_TRAIN])`,
    );
}

/**
 * The key the attack and data services share: `explicit`, else ROBUSTREC_DATA_TOKEN_KEY, else
 * the file named by ROBUSTREC_DATA_TOKEN_KEY_FILE, else <home>/secrets/data-token.key, created
 * (random, mode 0600) when absent. Services sharing a home (the in-process platform, the CLI)
 * thus share a key without configuration; services in separate homes (containers) must be
 * given the same key.
 *
 * Creation is race-free across threads and processes: the key is written to a private file,
 * fsynced, then hard-linked into place, which fails when another creator got there first; so
 * every caller ends up reading the one key that is in place, and never a half-written file.
 */
export function dataTokenKey(home: string, explicit?: string): Buffer {
  const check = (k: string, from: string): Buffer => {
    if (k.length < MIN_KEY_CHARS) throw invalidArgument(from, `a data token key needs at least ${MIN_KEY_CHARS} characters, got ${k.length}`);
    return Buffer.from(k);
  };
  if (explicit !== undefined && explicit !== '') return check(explicit, 'dataTokenKey');
  const env = process.env[DATA_TOKEN_KEY_ENV];
  if (env) return check(env, DATA_TOKEN_KEY_ENV);
  const file = process.env[DATA_TOKEN_KEY_FILE_ENV];
  if (file) return check(readFileSync(file, 'utf8').trim(), DATA_TOKEN_KEY_FILE_ENV);
  const dir = join(home, 'secrets');
  const path = join(dir, 'data-token.key');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.data-token.key.${process.pid}.${randomBytes(6).toString('hex')}`);
  try {
    readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(32).toString('hex'));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  return check(readFileSync(path, 'utf8').trim(), path);
}
