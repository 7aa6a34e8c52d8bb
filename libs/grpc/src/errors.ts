import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { RrError, type ErrorCode } from '@robustrec/core';

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
};

const NAMES = Object.fromEntries(Object.entries(CODES).map(([k, v]) => [v, k])) as Record<number, ErrorCode>;

/** Maps any thrown value to a gRPC status: RrErrors keep their code, others are INTERNAL. */
export function toStatus(e: unknown): Partial<StatusObject> {
  if (e instanceof RrError) return { code: CODES[e.code], details: e.message, metadata: new Metadata() };
  if (isServiceError(e)) return { code: e.code, details: e.details, metadata: new Metadata() };
  const msg = e instanceof Error ? e.message : String(e);
  return { code: status.INTERNAL, details: `internal error: ${msg}`, metadata: new Metadata() };
}

export function isServiceError(e: unknown): e is ServiceError {
  return typeof e === 'object' && e !== null && 'code' in e && 'details' in e && typeof (e as ServiceError).code === 'number';
}

/** Converts a gRPC error received by a client back into an RrError (keeps code and details). */
export function fromServiceError(e: unknown, context?: string): RrError {
  if (e instanceof RrError) return e;
  if (isServiceError(e)) {
    const code = NAMES[e.code] ?? 'INTERNAL';
    return new RrError(code, context ? `${context}: ${e.details}` : e.details);
  }
  return new RrError('INTERNAL', context ? `${context}: ${String(e)}` : String(e));
}

export { status };
