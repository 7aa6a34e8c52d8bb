import { create, createFileRegistry, fromBinary, ScalarType, toBinary, type DescField, type DescMessage, type DescMethod, type FileRegistry, type Message } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FuzzRng } from './rng';

/**
 * What the fuzzer knows of the contracts: the compiled descriptors `npm run generate`
 * writes (the same bytes the servers' reflection answers with), read with
 * @bufbuild/protobuf. Valid requests are built from them field by field, and hostile ones
 * are valid ones with a field overwritten at the wire level.
 */
export function loadRegistry(repoRoot: string): FileRegistry {
  const gen = join(repoRoot, 'libs/contracts/src/gen');
  const files = ['robustrec.binpb', 'health.binpb', 'reflection.binpb'].flatMap((f) => fromBinary(FileDescriptorSetSchema, readFileSync(join(gen, f))).file);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
}

export interface Rpc {
  service: string;
  method: DescMethod;
  path: string;
  address: string;
  /** Which process serves it (for crash attribution). */
  proc: string;
}

/** Real ids and values the services hold, so valid requests reach deep handler paths. */
export interface Pools {
  datasets: string[];
  profileSets: string[];
  models: string[];
  modelNames: string[];
  jobs: string[];
  evaluations: string[];
  /** Directories and files under the data root (LightGCN dirs, CSV files, profile JSON). */
  lightgcnDirs: string[];
  csvFiles: string[];
  profileFiles: string[];
  /** Paths that must be refused: outside the root, or escaping it through a symlink. */
  forbiddenPaths: string[];
  dataAddress: string;
  /** A profile-set JSON document valid for datasets[0]. */
  profileJson: string;
  numUsers: number;
  numItems: number;
}

const COMPONENTS: Record<string, string[]> = {
  generator: ['random', 'random', 'bandwagon', 'average', 'segment', 'dp', 'rev'],
  backbone: ['mf', 'mf', 'mf', 'lightgcn', 'neumf'],
  defense: ['none', 'none', 'pamacf', 'apr', 'sharpcf', 'vat', 'stdenoise', 'graphrfi'],
};

/** A plausible value for a string field, by its name and where it sits. */
function validString(f: DescField, parent: DescMessage, path: string, p: Pools, rng: FuzzRng): string {
  const n = f.name;
  const pt = parent.typeName;
  if (n === 'dataset_id') return rng.pick(p.datasets);
  if (n === 'profile_set_id') return rng.pick(p.profileSets);
  if (n === 'model_id') return rng.pick(p.models);
  if (n === 'job_id') return rng.pick(p.jobs);
  if (n === 'model_name') return rng.pick(p.modelNames);
  if (n === 'id') {
    if (/Dataset|Statistics/.test(pt)) return rng.pick(p.datasets);
    if (/ProfileSet/.test(pt)) return rng.pick(p.profileSets);
    if (/Job/.test(pt)) return rng.pick(p.jobs);
    if (/Evaluation/.test(pt)) return rng.pick(p.evaluations);
    if (/ModelRef/.test(pt)) return rng.chance(0.5) ? rng.pick(p.models) : '';
    return rng.chance(0.5) ? '' : `fuzz-${rng.int(1000)}`;
  }
  if (n === 'name') {
    if (pt === 'robustrec.v1.ComponentConfig') {
      const which = path.split('.').slice(-2)[0]!;
      return rng.pick(COMPONENTS[which] ?? COMPONENTS.generator!);
    }
    if (/ModelRef|ModelReady|ModelMetadata|GetModel|ListModels/.test(pt)) return rng.pick(p.modelNames);
    if (pt === 'robustrec.v1.CatalogueSource') return rng.pick(['gowalla', 'yelp2018', 'amazon-book', 'nope']);
    if (/InferInputTensor/.test(pt)) return 'user';
    if (pt === 'robustrec.v1.TensorChunk' || pt === 'robustrec.v1.TensorInfo') return rng.pick(['user_emb', 'item_emb']);
    if (pt === 'grpc.health.v1.HealthCheckRequest') return '';
    return `fuzz-${rng.int(100)}`;
  }
  if (n === 'service') return rng.pick(['', 'robustrec.v1.DataService', 'robustrec.v1.TrainerService', 'nope']);
  if (n === 'directory') return rng.pick([...p.lightgcnDirs, ...p.forbiddenPaths.slice(0, 1)]);
  if (n === 'path') return pt === 'robustrec.v1.InteractionFileSource' ? rng.pick(p.csvFiles) : rng.pick([...p.profileFiles, ...p.forbiddenPaths]);
  if (n === 'json') return rng.chance(0.7) ? p.profileJson : '{"target_items": ["1"], "fake_users": {"u": ["1", "2"]}}';
  if (n === 'data_service_address' || n === 'address') return rng.chance(0.7) ? p.dataAddress : `127.0.0.1:${1 + rng.int(65535)}`;
  if (n === 'token') return rng.pick(['', 'fuzz-token', 'wrong']);
  if (n === 'datatype') return rng.pick(['INT64', 'INT32', 'FP32']);
  if (n === 'version' || n === 'model_version') return rng.pick(['', '1', '2']);
  if (n === 'delimiter') return rng.pick(['', ',', '\t']);
  if (/_column$/.test(n)) return rng.pick(['', 'user', 'item', 'rating', 'ts']);
  if (n === 'generator') return rng.pick(['random', 'imported', '']);
  if (n === 'config_json') return '{}';
  if (n === 'file_by_filename') return rng.pick(['robustrec/v1/data.proto', 'robustrec/v1/scoring.proto', 'nope.proto']);
  if (n === 'file_containing_symbol') return rng.pick(['robustrec.v1.DataService', 'robustrec.v1.Dataset', 'grpc.health.v1.Health', 'nope.X']);
  return `fuzz-${rng.int(100)}`;
}

/** A plausible number for a numeric field: small, in range, so handlers do real (but cheap) work. */
function validNumber(f: DescField, p: Pools, rng: FuzzRng): number {
  switch (f.name) {
    case 'k':
      return 1 + rng.int(20);
    case 'user':
      return rng.int(p.numUsers + 2);
    case 'users':
    case 'int64_contents':
    case 'int_contents':
      return rng.int(p.numUsers);
    case 'items':
    case 'target_items':
      return rng.int(p.numItems);
    case 'ks':
      return rng.pick([1, 5, 10, 20]);
    case 'chunk_size':
      return rng.pick([0, 100, 1000]);
    case 'epochs':
      return 1;
    case 'dim':
      return rng.pick([4, 8, 16]);
    case 'batch_size':
      return rng.pick([0, 64, 256]);
    case 'num_users':
      return 20 + rng.int(200);
    case 'num_items':
      return 20 + rng.int(200);
    case 'mean_interactions':
      return 3 + rng.int(8);
    case 'clusters':
      return rng.int(8);
    case 'num_fake_users':
      return rng.int(20);
    case 'num_targets':
      return rng.int(4);
    case 'profile_length':
      return rng.int(30);
    case 'budget_fraction':
      return rng.pick([0, 0.01, 0.05]);
    case 'timeout_seconds':
      return rng.pick([0, 2, 5]);
    case 'lr':
      return rng.pick([0, 0.01, 0.001]);
    case 'offset':
      return rng.pick([0, 4, 1 << 20]);
    case 'version':
      return rng.pick([0, 0, 0, 1, 2]);
    case 'weight_decay':
    case 'l2':
      return rng.pick([0, 0.01]);
    case 'init_std':
      return rng.pick([0, 0.1]);
    case 'eval_every':
      return rng.int(2);
    case 'shape':
      return 1 + rng.int(64);
    case 'seed':
      return rng.int(10_000);
    case 'min_length':
      return rng.int(5);
    case 'test_ratio':
    case 'valid_ratio':
      return rng.pick([0.1, 0.2]);
    default:
      return rng.int(4);
  }
}

/**
 * A valid request of type `desc` as a protobuf-es init object: one member of each oneof,
 * a few elements per repeated field, values drawn from the pools.
 */
export function validInit(desc: DescMessage, p: Pools, rng: FuzzRng, path = '', depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (depth > 6) return out;
  const chosen = new Map(desc.oneofs.map((o) => [o.localName, rng.pick(o.fields).localName]));
  for (const f of desc.fields) {
    const at = path ? `${path}.${f.name}` : f.name;
    if (f.oneof) {
      if (chosen.get(f.oneof.localName) !== f.localName) continue;
      out[f.oneof.localName] = { case: f.localName, value: single(f, desc, at, p, rng, depth) };
      continue;
    }
    if (f.fieldKind === 'list') {
      const n = f.name === 'profiles' ? 2 + rng.int(4) : rng.int(4);
      out[f.localName] = Array.from({ length: n }, (_, i) => element(f, desc, `${at}[${i}]`, p, rng, depth));
    } else if (f.fieldKind === 'map') {
      // mostly empty: a random key is an unknown parameter, which stops the request early
      const n = rng.chance(0.75) ? 0 : 1 + rng.int(2);
      const m: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) m[rng.pick(['eps', 'rho', 'popular_share', 'k', 'mode'])] = f.mapKind === 'message' ? validInit(f.message, p, rng, at, depth + 1) : f.scalar === ScalarType.STRING ? 'x' : rng.pick([0.1, 0.5, 1]);
      out[f.localName] = m;
    } else if (rng.chance(f.fieldKind === 'message' ? 0.9 : 0.8)) out[f.localName] = single(f, desc, at, p, rng, depth);
  }
  return out;
}

function scalarValue(f: DescField, t: ScalarType, parent: DescMessage, path: string, p: Pools, rng: FuzzRng): unknown {
  if (t === ScalarType.STRING) return validString(f, parent, path, p, rng);
  if (t === ScalarType.BYTES) return rng.bytes(f.name === 'data' ? 4 * rng.int(64) : rng.int(16));
  if (t === ScalarType.BOOL) return rng.chance(0.5);
  const n = validNumber(f, p, rng);
  if (t === ScalarType.INT64 || t === ScalarType.UINT64 || t === ScalarType.SINT64 || t === ScalarType.FIXED64 || t === ScalarType.SFIXED64) return BigInt(Math.floor(n));
  return n;
}

function single(f: DescField, parent: DescMessage, path: string, p: Pools, rng: FuzzRng, depth: number): unknown {
  if (f.fieldKind === 'message') return validInit(f.message, p, rng, path, depth + 1);
  if (f.fieldKind === 'enum') return rng.pick(f.enum.values).number;
  if (f.fieldKind === 'scalar') return scalarValue(f, f.scalar, parent, path, p, rng);
  return undefined;
}

function element(f: DescField, parent: DescMessage, path: string, p: Pools, rng: FuzzRng, depth: number): unknown {
  if (f.fieldKind !== 'list') return undefined;
  if (f.listKind === 'message') return validInit(f.message, p, rng, path, depth + 1);
  if (f.listKind === 'enum') return rng.pick(f.enum.values.filter((v) => v.number !== 0)).number;
  return scalarValue(f, f.scalar, parent, path, p, rng);
}

// ---- hostile values at the wire level ------------------------------------------------------

const VARINTS: bigint[] = [0n, 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n, 10n ** 9n, 99n, 12345n];
const DOUBLES = [Number.NaN, Infinity, -Infinity, -0, 1e308, -1e308, 5e-324, -1, 1e9];

function hostileString(rng: FuzzRng, p: Pools): Uint8Array {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  switch (rng.int(11)) {
    case 0:
      return enc('');
    case 1:
      return enc('A'.repeat(100_000));
    case 2:
      return enc('A'.repeat(257));
    case 3:
      return enc('../../../../../../etc/passwd');
    case 4:
      return enc(rng.pick(p.forbiddenPaths));
    case 5:
      return enc('x\0y');
    case 6:
      return Uint8Array.of(0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1); // not UTF-8
    case 7:
      return enc('😀'.repeat(300));
    case 8:
      return enc(`${rng.pick(p.datasets)}'; DROP TABLE datasets; --`);
    case 9:
      return enc('%s%n%x{{7*7}}${process.env}');
    default:
      return enc('B'.repeat(10 << 20)); // 10 MB
  }
}

/** The wire type a field is encoded with. */
function wireTypeOf(f: DescField): WireType {
  if (f.fieldKind === 'message' || f.fieldKind === 'map') return WireType.LengthDelimited;
  if (f.fieldKind === 'list' && f.listKind !== 'scalar' && f.listKind !== 'enum') return WireType.LengthDelimited;
  if (f.fieldKind === 'enum' || (f.fieldKind === 'list' && f.listKind === 'enum')) return WireType.Varint;
  const t = f.scalar!;
  if (t === ScalarType.STRING || t === ScalarType.BYTES) return WireType.LengthDelimited;
  if (t === ScalarType.DOUBLE || t === ScalarType.FIXED64 || t === ScalarType.SFIXED64) return WireType.Bit64;
  if (t === ScalarType.FLOAT || t === ScalarType.FIXED32 || t === ScalarType.SFIXED32) return WireType.Bit32;
  return WireType.Varint;
}

/** One hostile encoding of field f: [wire type, bytes after the tag] and a label. */
export function hostileField(f: DescField, rng: FuzzRng, p: Pools, wrongWireType: boolean): { wireType: number; data: Uint8Array; label: string } {
  const w = new BinaryWriter();
  const natural = wireTypeOf(f);
  if (wrongWireType) {
    const wt = rng.pick([0, 1, 2, 5, 3, 6, 7].filter((x) => x !== natural));
    if (wt === WireType.Varint) w.uint64(2n ** 64n - 1n);
    else if (wt === WireType.Bit64) w.fixed64(0x7ff8000000000001n);
    else if (wt === WireType.Bit32) w.fixed32(0xffffffff);
    else if (wt === WireType.LengthDelimited) w.bytes(rng.bytes(rng.int(40)));
    else w.raw(rng.bytes(rng.int(8)));
    return { wireType: wt, data: w.finish(), label: `wire-type-${wt}` };
  }
  if (natural === WireType.LengthDelimited) {
    const scalarish = f.fieldKind === 'scalar' || (f.fieldKind === 'list' && f.listKind === 'scalar');
    if (scalarish && f.scalar === ScalarType.STRING) {
      const s = hostileString(rng, p);
      w.bytes(s);
      return { wireType: natural, data: w.finish(), label: s.length > 1e6 ? 'string-10MB' : s.length >= 1e5 ? 'string-100k' : 'string' };
    }
    const b = rng.chance(0.5) ? rng.bytes(rng.int(64)) : new Uint8Array(0);
    w.bytes(b);
    return { wireType: natural, data: w.finish(), label: 'garbage-submessage' };
  }
  // floating-point bits written by hand: the writer refuses values a float32 cannot hold
  const bits = (v: number, width: 4 | 8): Uint8Array => {
    const dv = new DataView(new ArrayBuffer(width));
    if (width === 4) dv.setFloat32(0, v, true);
    else dv.setFloat64(0, v, true);
    return new Uint8Array(dv.buffer);
  };
  if (natural === WireType.Bit64) {
    const v = rng.pick(DOUBLES);
    if (f.scalar === ScalarType.DOUBLE) w.raw(bits(v, 8));
    else w.fixed64(rng.pick(VARINTS));
    return { wireType: natural, data: w.finish(), label: `double ${v}` };
  }
  if (natural === WireType.Bit32) {
    const v = rng.pick(DOUBLES);
    w.raw(bits(v, 4));
    return { wireType: natural, data: w.finish(), label: `float ${v}` };
  }
  const v = rng.pick(VARINTS);
  if (v === 0n && rng.chance(0.5)) {
    // -1 as a 10-byte varint (negative ids and k)
    w.int64(-1n);
    return { wireType: natural, data: w.finish(), label: 'varint-negative' };
  }
  w.uint64(v);
  return { wireType: natural, data: w.finish(), label: v > 2n ** 53n ? 'varint-above-2^53' : 'varint' };
}

/** Message-typed fields reachable from desc in an init object, with their descriptors (for deep mutation). */
export function messagesIn(init: Record<string, unknown>, desc: DescMessage, out: Array<{ obj: Record<string, unknown>; desc: DescMessage }> = []): Array<{ obj: Record<string, unknown>; desc: DescMessage }> {
  out.push({ obj: init, desc });
  for (const f of desc.fields) {
    let v: unknown = init[f.localName];
    if (f.oneof) {
      const h = init[f.oneof.localName] as { case?: string; value?: unknown } | undefined;
      v = h?.case === f.localName ? h.value : undefined;
    }
    if (v === undefined) continue;
    if (f.fieldKind === 'message') messagesIn(v as Record<string, unknown>, f.message, out);
    if (f.fieldKind === 'list' && f.listKind === 'message') for (const e of v as Array<Record<string, unknown>>) messagesIn(e, f.message, out);
  }
  return out;
}

/** Encodes an init object; `unknown` adds raw fields to (sub)messages, after their known fields (so they win). */
export function encode(desc: DescMessage, init: Record<string, unknown>, extra?: { target: Record<string, unknown>; fields: Array<{ no: number; wireType: number; data: Uint8Array }> }): Uint8Array {
  const msg = create(desc, init as never) as Message & Record<string, unknown>;
  if (extra) {
    // find the created sub-message corresponding to the init object: walk both in parallel
    const created = messagesIn(msg as unknown as Record<string, unknown>, desc);
    const inits = messagesIn(init, desc);
    const k = inits.findIndex((x) => x.obj === extra.target);
    const target = created[k]?.obj as { $unknown?: unknown[] } | undefined;
    if (target) target.$unknown = [...(target.$unknown ?? []), ...extra.fields];
  }
  return toBinary(desc, msg);
}
