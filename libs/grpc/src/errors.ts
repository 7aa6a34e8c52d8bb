import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { dataRoots, realPath, RrError, type ErrorCode } from '@robustrec/core';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { sep } from 'node:path';

const CODES: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  ABORTED: status.ABORTED,
  INTERNAL: status.INTERNAL,
  UNKNOWN: status.UNKNOWN,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  OUT_OF_RANGE: status.OUT_OF_RANGE,
  DATA_LOSS: status.DATA_LOSS,
};

const NAMES = Object.fromEntries(Object.entries(CODES).map(([k, v]) => [v, k])) as Record<number, ErrorCode>;

/** Longest status message a server sends (longer ones end in an ellipsis). */
export const MAX_STATUS_MESSAGE = 1024;

// ---- what a status message may contain --------------------------------------------------

/** Directories whose paths may appear in status messages (a data service adds its roots). */
const publicRoots = new Set<string>();

/** Lets status messages name paths under these directories (the data roots a caller imports from). */
export function allowPathsUnder(roots: readonly string[]): void {
  for (const r of roots) publicRoots.add(realPath(r));
}

let topLevel: Set<string> | undefined;
/** Names directly under "/": an absolute path in a message is only a file path if it starts with one. */
function topLevelNames(): Set<string> {
  if (!topLevel) {
    try {
      topLevel = new Set(readdirSync('/'));
    } catch {
      topLevel = new Set();
    }
  }
  return topLevel;
}

const isPublicPath = (p: string): boolean => {
  const roots = [...publicRoots, ...dataRoots()];
  return roots.some((r) => p === r || p.startsWith(r.endsWith(sep) ? r : r + sep));
};

// an absolute path: "/" plus a name, not preceded by a word character (so "a/b" and
// "/robustrec.v1.X/Y" method paths are left alone unless "/robustrec.v1.X" is a real directory)
const ABS_PATH = /(?<![\w.\-/~])(?:file:\/\/)?(\/[^\s'"`:,;()[\]{}<>|]+)/g;
const STACK_LINE = /^\s+at\s.*$/gm;

/**
 * What a status message may say: no stack trace, no absolute path outside the data roots
 * (replaced by "…/<file name>"), at most MAX_STATUS_MESSAGE characters.
 */
export function publicMessage(message: string): string {
  let m = message.replace(STACK_LINE, '').replace(/\n{2,}/g, '\n').trimEnd();
  m = m.replace(ABS_PATH, (whole, p: string) => {
    const first = p.split('/')[1] ?? '';
    if (!topLevelNames().has(first) && !whole.startsWith('file:')) return whole;
    if (!whole.startsWith('file:') && isPublicPath(p)) return whole;
    const base = p.replace(/\/+$/, '').split('/').pop();
    return base ? `…/${base}` : '…';
  });
  if (m.length > MAX_STATUS_MESSAGE) m = `${m.slice(0, MAX_STATUS_MESSAGE - 1)}…`;
  return m;
}

// ---- server side: thrown value -> status ------------------------------------------------

/**
 * Maps any thrown value to a gRPC status. RrErrors keep their code and (cleaned) message;
 * a peer's ServiceError is mapped as fromServiceError does; anything else is a bug or an
 * unanticipated failure: INTERNAL with a generic text and a reference, the detail (with its
 * stack) going to this server's log under the same reference.
 */
export function toStatus(e: unknown): Partial<StatusObject> {
  const err = e instanceof RrError ? e : isServiceError(e) ? fromServiceError(e) : undefined;
  if (err) return { code: CODES[err.code] ?? status.INTERNAL, details: publicMessage(err.message), metadata: new Metadata() };
  const ref = randomBytes(4).toString('hex');
  console.error(`[robustrec] internal error ${ref}:`, e);
  return { code: status.INTERNAL, details: `internal error (reference ${ref} in the service log)`, metadata: new Metadata() };
}

export function isServiceError(e: unknown): e is ServiceError {
  return typeof e === 'object' && e !== null && 'code' in e && 'details' in e && typeof (e as ServiceError).code === 'number';
}

// ---- client side: a peer's status -> RrError --------------------------------------------

/**
 * Converts a gRPC error received by a client back into an RrError, keeping code and
 * details, so a service can forward a peer's NOT_FOUND as its own NOT_FOUND. Two codes are
 * about the connection between us and the peer, not about the caller's request, and are
 * not forwarded as they are: a peer that does not implement a method (UNIMPLEMENTED) or
 * refuses our credentials (UNAUTHENTICATED) is FAILED_PRECONDITION naming the peer, so
 * our caller is not told that *we* lack the RPC. `peer` names the peer and method
 * ("127.0.0.1:50051 /robustrec.v1.DataService/GetDataset").
 */
export function fromServiceError(e: unknown, context?: string, peer?: string): RrError {
  if (e instanceof RrError) return e;
  if (isServiceError(e)) {
    const code = NAMES[e.code] ?? 'UNKNOWN';
    const details = e.details ?? '';
    if (code === 'UNIMPLEMENTED' || code === 'UNAUTHENTICATED') {
      const what = code === 'UNIMPLEMENTED' ? 'does not implement the method' : 'refused our credentials';
      return new RrError('FAILED_PRECONDITION', `${context ? `${context}: ` : ''}dependency ${peer ?? 'peer'} ${what} (${code}: ${details})`);
    }
    return new RrError(code, context ? `${context}: ${details}` : details);
  }
  return new RrError('INTERNAL', context ? `${context}: ${String(e)}` : String(e));
}

export { status };
