/**
 * Platform errors carry a gRPC status name so that the service adapters map them to the
 * right status code without each handler deciding it again.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'ABORTED'
  | 'INTERNAL'
  // the rest of gRPC's codes, so that a peer's status survives a round trip through RrError
  // (before, anything not listed above became INTERNAL)
  | 'UNKNOWN'
  | 'UNIMPLEMENTED'
  | 'UNAUTHENTICATED'
  | 'OUT_OF_RANGE'
  | 'DATA_LOSS';

export class RrError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The request field or file:line the error is about, when there is one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'RrError';
  }
}

/** INVALID_ARGUMENT whose message starts with the offending field, e.g. "config.batch_size: must be > 0". */
export const invalidArgument = (field: string, message: string): RrError =>
  new RrError('INVALID_ARGUMENT', `${field}: ${message}`, field);

export const notFound = (what: string, id: string | number): RrError =>
  new RrError('NOT_FOUND', `${what} not found: ${id}`);

export const failedPrecondition = (message: string): RrError => new RrError('FAILED_PRECONDITION', message);

export const permissionDenied = (message: string): RrError => new RrError('PERMISSION_DENIED', message);

export const resourceExhausted = (message: string): RrError => new RrError('RESOURCE_EXHAUSTED', message);

export const unavailable = (message: string): RrError => new RrError('UNAVAILABLE', message);

export const isRrError = (e: unknown): e is RrError => e instanceof RrError;

/** Throws INVALID_ARGUMENT unless `value` is a finite number in [min, max]. */
export function checkNumber(field: string, value: number, min = -Infinity, max = Infinity, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidArgument(field, `must be a finite number, got ${value}`);
  if (integer && !Number.isInteger(value)) throw invalidArgument(field, `must be an integer, got ${value}`);
  if (value < min || value > max) throw invalidArgument(field, `must be in [${min}, ${max}], got ${value}`);
  return value;
}
