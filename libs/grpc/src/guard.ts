import { fromBinary, ScalarType, type DescEnum, type DescField, type DescMessage } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { invalidArgument, type RrError } from '@robustrec/core';
import { methodByPath } from './descriptors';

/**
 * The request guard: every served method's requestDeserialize goes through it (startServer
 * wraps the generated definitions), so that no request reaches a handler unchecked and no
 * request makes grpc-js answer INTERNAL "Error deserializing request".
 *
 * - A message that cannot be decoded (bad framing inside the message, a truncated field, a
 *   64-bit integer above 2^53 that ts-proto refuses to turn into a number, ...) becomes a
 *   RejectedRequest carrying INVALID_ARGUMENT "request: could not be decoded (...)", or,
 *   when the culprit is an out-of-range integer, INVALID_ARGUMENT naming that field.
 * - A decoded message is checked against the method's descriptor (proto field names):
 *   every string, map key included, within its length cap (stringLimit), every enum value
 *   one the contract defines.
 *
 * The handler adapters (handlers.ts) answer a RejectedRequest with its error before any
 * service code runs; startServer does the same for handlers not built with them.
 */
export class RejectedRequest {
  constructor(readonly error: RrError) {}
}

export const isRejected = (m: unknown): m is RejectedRequest => m instanceof RejectedRequest;

/** The request itself, or the guard's error thrown (the adapters call this first). */
export function acceptRequest<T>(m: T | RejectedRequest): T {
  if (m instanceof RejectedRequest) throw m.error;
  return m;
}

/** Ids and names: dataset/model/job ids, names, tokens, addresses, map keys. */
export const MAX_ID_CHARS = 256;
/** Other free text (column names, option values, delimiters, ...). */
export const MAX_TEXT_CHARS = 4096;
/** Serialized configuration carried in provenance records. */
export const MAX_CONFIG_JSON_CHARS = 1 << 20;
/** An experiment spec submitted as YAML text (ExperimentService). */
export const MAX_SPEC_YAML_CHARS = 256 << 10;

const ID_FIELD = /(^|_)(id|ids|name|key|token|address|version|host|generator|backbone|defense|datatype|service|symbol|filename|at)$/;

/**
 * Longest accepted value of a string field, by its proto name. `json` (a whole profile-set
 * document) is bounded by the service's receive-message limit only.
 */
export function stringLimit(field: string): number {
  if (field === 'json') return Infinity;
  if (field === 'config_json') return MAX_CONFIG_JSON_CHARS;
  if (field === 'spec_yaml') return MAX_SPEC_YAML_CHARS;
  if (field === 'path' || field === 'directory') return MAX_TEXT_CHARS;
  return ID_FIELD.test(field) ? MAX_ID_CHARS : MAX_TEXT_CHARS;
}

const enumValues = new WeakMap<DescEnum, Set<number>>();
function definedValues(e: DescEnum): Set<number> {
  let s = enumValues.get(e);
  if (!s) enumValues.set(e, (s = new Set(e.values.map((v) => v.number))));
  return s;
}

const join = (path: string, name: string): string => (path ? `${path}.${name}` : name);

function checkString(path: string, name: string, v: unknown, limit = stringLimit(name)): RrError | undefined {
  if (typeof v === 'string' && v.length > limit) return invalidArgument(path, `too long: ${v.length} characters, at most ${limit}`);
  return undefined;
}

function checkEnum(path: string, e: DescEnum, v: unknown): RrError | undefined {
  if (typeof v === 'number' && !definedValues(e).has(v)) return invalidArgument(path, `${v} is not a ${e.name} value`);
  return undefined;
}

function checkSingular(field: DescField, path: string, v: unknown, depth: number): RrError | undefined {
  if (field.fieldKind === 'scalar') return field.scalar === ScalarType.STRING ? checkString(path, field.name, v) : undefined;
  if (field.fieldKind === 'enum') return checkEnum(path, field.enum, v);
  if (field.fieldKind === 'message') return checkFields(v, field.message, path, depth + 1);
  return undefined;
}

/**
 * A field's value in a ts-proto message (oneof members are plain properties) or a
 * protobuf-es one (oneof members sit under the oneof's name as {case, value}).
 */
function fieldValue(o: Record<string, unknown>, f: DescField): unknown {
  const v = o[f.localName];
  if (v !== undefined || !f.oneof) return v;
  const holder = o[f.oneof.localName] as { case?: string; value?: unknown } | undefined;
  return holder?.case === f.localName ? holder.value : undefined;
}

/** First problem of a decoded (ts-proto) message against its descriptor, or undefined. */
export function checkFields(msg: unknown, desc: DescMessage, path = '', depth = 0): RrError | undefined {
  if (msg === null || typeof msg !== 'object' || depth > 32) return undefined;
  const o = msg as Record<string, unknown>;
  for (const f of desc.fields) {
    const v = fieldValue(o, f);
    if (v === undefined || v === null) continue;
    const p = join(path, f.name);
    let err: RrError | undefined;
    if (f.fieldKind === 'list') {
      if (!Array.isArray(v) || (f.listKind === 'scalar' && f.scalar !== ScalarType.STRING)) continue;
      for (let i = 0; i < v.length && !err; i++) {
        const at = `${p}[${i}]`;
        if (f.listKind === 'scalar') err = checkString(at, f.name, v[i]);
        else if (f.listKind === 'enum') err = checkEnum(at, f.enum, v[i]);
        else err = checkFields(v[i], f.message, at, depth + 1);
      }
    } else if (f.fieldKind === 'map') {
      for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
        if (k.length > MAX_ID_CHARS) return invalidArgument(p, `a key is too long: ${k.length} characters, at most ${MAX_ID_CHARS}`);
        const at = `${p}[${JSON.stringify(k)}]`;
        err =
          f.mapKind === 'scalar'
            ? f.scalar === ScalarType.STRING
              ? checkString(at, f.name, val, MAX_TEXT_CHARS)
              : undefined
            : f.mapKind === 'enum'
              ? checkEnum(at, f.enum, val)
              : checkFields(val, f.message, at, depth + 1);
        if (err) break;
      }
    } else err = checkSingular(f, p, v, depth);
    if (err) return err;
  }
  return undefined;
}

// ---- decode failures ---------------------------------------------------------------------

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Path and value of the first 64-bit integer outside ±(2^53 - 1) in a protobuf-es message. */
function unsafeInteger(msg: Record<string, unknown>, desc: DescMessage, path: string, depth = 0): { path: string; value: bigint } | undefined {
  if (depth > 32) return undefined;
  const big = (v: unknown): v is bigint => typeof v === 'bigint' && (v > SAFE || v < -SAFE);
  for (const f of desc.fields) {
    const v = fieldValue(msg, f);
    if (v === undefined || v === null) continue;
    const p = join(path, f.name);
    if (f.fieldKind === 'scalar' && big(v)) return { path: p, value: v };
    if (f.fieldKind === 'message') {
      const r = unsafeInteger(v as Record<string, unknown>, f.message, p, depth + 1);
      if (r) return r;
    }
    if (f.fieldKind === 'list' && Array.isArray(v))
      for (let i = 0; i < v.length; i++) {
        if (f.listKind === 'scalar' && big(v[i])) return { path: `${p}[${i}]`, value: v[i] as bigint };
        if (f.listKind === 'message') {
          const r = unsafeInteger(v[i] as Record<string, unknown>, f.message, `${p}[${i}]`, depth + 1);
          if (r) return r;
        }
      }
    if (f.fieldKind === 'map')
      for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
        if (f.mapKind === 'scalar' && big(val)) return { path: `${p}[${JSON.stringify(k.slice(0, 64))}]`, value: val };
        if (f.mapKind === 'message') {
          const r = unsafeInteger(val as Record<string, unknown>, f.message, `${p}[${JSON.stringify(k.slice(0, 64))}]`, depth + 1);
          if (r) return r;
        }
      }
  }
  return undefined;
}

const shortReason = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 160);

/**
 * Why a request could not be decoded. The bytes are decoded again with @bufbuild/protobuf,
 * which keeps 64-bit integers as bigints: if that succeeds, the culprit is an integer our
 * generated code cannot represent, and the error names its field.
 */
export function explainDecodeFailure(desc: DescMessage | undefined, bytes: Uint8Array, e: unknown): RrError {
  if (desc) {
    try {
      const m = fromBinary(desc, bytes) as unknown as Record<string, unknown>;
      const bad = unsafeInteger(m, desc, '');
      if (bad) return invalidArgument(bad.path, `${bad.value} is outside the supported integer range ±(2^53 - 1)`);
    } catch (e2) {
      return invalidArgument('request', `could not be decoded (${shortReason(e2)})`);
    }
  }
  return invalidArgument('request', `could not be decoded (${shortReason(e)})`);
}

type AnyMethod = MethodDefinition<unknown, unknown>;

/** Decodes with the generated deserializer, never throwing: problems become a RejectedRequest. */
export function guardedDeserializer(method: AnyMethod): (buf: Buffer) => unknown {
  const input = methodByPath(method.path)?.input;
  const decode = method.requestDeserialize;
  return (buf: Buffer): unknown => {
    let msg: unknown;
    try {
      msg = decode(buf);
    } catch (e) {
      return new RejectedRequest(explainDecodeFailure(input, buf, e));
    }
    const problem = input ? checkFields(msg, input) : undefined;
    return problem ? new RejectedRequest(problem) : msg;
  };
}

/** A copy of a service definition whose request deserializers go through the guard. */
export function guardDefinition<D extends ServiceDefinition>(def: D): D {
  const out: Record<string, AnyMethod> = {};
  for (const [name, m] of Object.entries(def as unknown as Record<string, AnyMethod>)) out[name] = { ...m, requestDeserialize: guardedDeserializer(m) };
  return out as unknown as D;
}
