/**
 * The Open Inference Protocol (KServe v2 / Triton) over RobustRec's loaded models, for both
 * transports: the gRPC GRPCInferenceService (here) and HTTP/JSON (oip-http.ts) decode their
 * requests into the same InferCall, run the same `infer`, and encode the same result.
 *
 * Every registered model name is an OIP model:
 * - input "user": user ids, any integer datatype (INT8..INT64, UINT8..UINT64), shape [n] or
 *   [n, 1]; JSON data flat or nested;
 * - parameters "k" (1..items, default 10) and "include_seen" (default false);
 * - outputs "items" (INT64 [n, k], best first, -1 where fewer than k items remain) and
 *   "scores" (FP32 [n, k]; NaN, or null in JSON, at the padding); "outputs" selects them.
 * - version: "" (the served version, else the newest), a number, or an alias ("production",
 *   "latest").
 * Errors name the tensor or parameter: INVALID_ARGUMENT (HTTP 400) for bad shapes, datatypes
 * or values, NOT_FOUND (404) for an unknown model or version.
 */
import { evaluator, inference } from '@robustrec/contracts';
import { checkMemory, invalidArgument, resourceExhausted, RrError } from '@robustrec/core';
import { unary } from '@robustrec/grpc';
import type { BatchTop, ModelServer, ServedModel } from './models';
import { checkAlias, LATEST, type ModelRegistry } from './registry';

export const SERVER_NAME = 'robustrec';
export const SERVER_VERSION = '0.1.0';
/** The one input tensor. */
export const INPUT = 'user';
export const OUTPUTS = ['items', 'scores'] as const;
const PARAMS = ['k', 'include_seen'] as const;
export const DEFAULT_K = 10;

/** The spec's integer datatypes with their ranges and byte widths (the inputs RobustRec accepts). */
export const INT_TYPES: Record<string, { bytes: number; min: number; max: number; signed: boolean }> = {
  INT8: { bytes: 1, min: -(2 ** 7), max: 2 ** 7 - 1, signed: true },
  INT16: { bytes: 2, min: -(2 ** 15), max: 2 ** 15 - 1, signed: true },
  INT32: { bytes: 4, min: -(2 ** 31), max: 2 ** 31 - 1, signed: true },
  INT64: { bytes: 8, min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, signed: true },
  UINT8: { bytes: 1, min: 0, max: 2 ** 8 - 1, signed: false },
  UINT16: { bytes: 2, min: 0, max: 2 ** 16 - 1, signed: false },
  UINT32: { bytes: 4, min: 0, max: 2 ** 32 - 1, signed: false },
  UINT64: { bytes: 8, min: 0, max: Number.MAX_SAFE_INTEGER, signed: false },
};
/** Every datatype of the spec (others are refused as unknown, these as not integers). */
const ALL_TYPES = new Set([...Object.keys(INT_TYPES), 'BOOL', 'FP16', 'FP32', 'FP64', 'BYTES', 'BF16']);

export type ParamValue = boolean | number | string;

/** One decoded input tensor: its values are produced lazily, after name/datatype/shape checks. */
export interface InputTensor {
  name: string;
  datatype: string;
  shape: number[];
  /** The elements, row-major (the transport has already checked they are numbers). */
  values(field: string, count: number): ArrayLike<number>;
}

export interface InferCall {
  modelName: string;
  modelVersion: string;
  id: string;
  parameters: Record<string, ParamValue>;
  inputs: InputTensor[];
  /** Requested outputs (undefined: all). */
  outputs: Array<{ name: string; parameters: Record<string, ParamValue> }> | undefined;
}

export interface InferResult {
  modelName: string;
  modelVersion: string;
  id: string;
  users: number;
  top: BatchTop;
  outputs: Array<(typeof OUTPUTS)[number]>;
}

export interface TensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMeta {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMeta[];
  outputs: TensorMeta[];
}

/** A reference from an OIP name and version string. */
export function refOf(name: string, version: string, field = 'version'): evaluator.ModelRef {
  if (!name) throw invalidArgument('model_name', 'is required');
  if (version === '') return { id: '', name, version: 0, alias: '' };
  if (/^\d+$/.test(version)) {
    if (!/^[1-9]\d{0,8}$/.test(version)) throw invalidArgument(field, `must be a version number (1..), an alias or empty, got ${JSON.stringify(version.slice(0, 32))}`);
    return { id: '', name, version: Number(version), alias: '' };
  }
  if (version !== LATEST) checkAlias(field, version);
  return { id: '', name, version: 0, alias: version };
}

/** Shared state of both transports: the models, and whether the server takes inference requests. */
export class Oip {
  /** True from the moment the registry is open and the serving pool started until a shutdown begins. */
  ready = false;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly server: ModelServer,
    private readonly maxBatch: number,
    private readonly budget: number,
  ) {}

  serverMetadata(): { name: string; version: string; extensions: string[] } {
    return { name: SERVER_NAME, version: SERVER_VERSION, extensions: [] };
  }

  /** Whether the model a name/version names is loaded and can answer at once (no load is triggered). */
  modelReady(name: string, version: string): boolean {
    let id: string;
    try {
      id = this.registry.get(refOf(name, version)).id;
    } catch (e) {
      if (e instanceof RrError && e.code === 'NOT_FOUND') return false;
      throw e;
    }
    // a name alone is ready when the version it serves now is loaded
    const served = version === '' ? this.server.servedId(name) : undefined;
    return this.server.isLoaded(served ?? id);
  }

  modelMetadata(name: string, version: string): ModelMeta {
    const model = this.registry.get(refOf(name, version));
    const versions = this.registry.list(name).map((m) => String(m.version)).reverse();
    return {
      name,
      versions,
      platform: `robustrec_${model.backbone}`,
      inputs: [{ name: INPUT, datatype: 'INT64', shape: [-1] }],
      outputs: [
        { name: 'items', datatype: 'INT64', shape: [-1, -1] },
        { name: 'scores', datatype: 'FP32', shape: [-1, -1] },
      ],
    };
  }

  async infer(req: InferCall): Promise<InferResult> {
    // request-level checks first: nothing is loaded for a malformed request
    for (const [name, v] of Object.entries(req.parameters)) {
      if (name === 'binary_data_output') throw invalidArgument(`parameters.${name}`, 'the binary tensor data extension is not supported: tensors travel as JSON (or typed gRPC contents)');
      if (!(PARAMS as readonly string[]).includes(name)) throw invalidArgument(`parameters.${name}`, `unknown parameter (this model takes ${PARAMS.join(', ')})`);
      if (name === 'include_seen' && typeof v !== 'boolean') throw invalidArgument('parameters.include_seen', `must be a boolean, got ${JSON.stringify(v)}`);
      if (name === 'k' && (typeof v !== 'number' || !Number.isInteger(v))) throw invalidArgument('parameters.k', `must be an integer, got ${JSON.stringify(v)}`);
    }
    let outputs: InferResult['outputs'] = [...OUTPUTS];
    if (req.outputs) {
      const names = req.outputs.map((o, i) => {
        if (!(OUTPUTS as readonly string[]).includes(o.name)) throw invalidArgument(`outputs[${i}].name`, `unknown output ${JSON.stringify(o.name.slice(0, 64))} (this model has ${OUTPUTS.join(', ')})`);
        for (const p of Object.keys(o.parameters)) {
          if (p === 'binary_data') throw invalidArgument(`outputs[${o.name}].parameters.binary_data`, 'the binary tensor data extension is not supported: request outputs as JSON');
          if (p !== 'classification') throw invalidArgument(`outputs[${o.name}].parameters.${p}`, 'unknown output parameter');
          throw invalidArgument(`outputs[${o.name}].parameters.classification`, 'the classification extension is not supported');
        }
        return o.name as (typeof OUTPUTS)[number];
      });
      if (new Set(names).size !== names.length) throw invalidArgument('outputs', 'an output is requested twice');
      if (names.length) outputs = names;
    }
    req.inputs.forEach((t, i) => {
      if (t.name !== INPUT) throw invalidArgument(`inputs[${i}].name`, `unknown input ${JSON.stringify(t.name.slice(0, 64))} (this model takes one input, "${INPUT}")`);
    });
    if (req.inputs.length !== 1) throw invalidArgument('inputs', `exactly one input tensor named "${INPUT}" is required, got ${req.inputs.length}`);
    const t = req.inputs[0]!;
    const field = `inputs[${INPUT}]`;
    const type = INT_TYPES[t.datatype];
    if (!type)
      throw invalidArgument(`${field}.datatype`, ALL_TYPES.has(t.datatype) ? `user ids are integers: one of ${Object.keys(INT_TYPES).join(', ')}, got ${t.datatype}` : `unknown datatype ${JSON.stringify(t.datatype.slice(0, 16))}`);
    if (!(t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1)) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0))
      throw invalidArgument(`${field}.shape`, `must be [n] or [n, 1], got [${t.shape.slice(0, 8).join(', ')}${t.shape.length > 8 ? ', …' : ''}]`);
    const n = t.shape[0]!;
    if (n === 0) throw invalidArgument(`${field}.shape`, 'no user ids given');
    if (n > this.maxBatch) throw resourceExhausted(`${field}: ${n} users exceed the batch limit of ${this.maxBatch}`);

    const s: ServedModel = await this.server.resolve(refOf(req.modelName, req.modelVersion, 'model_version'));
    const k = req.parameters.k === undefined ? Math.min(DEFAULT_K, s.model.numItems) : (req.parameters.k as number);
    if (k < 1 || k > s.model.numItems) throw invalidArgument('parameters.k', `must be in [1, ${s.model.numItems}], got ${k}`);
    checkMemory(field, n * k * 32, this.budget, `top-${k} lists for ${n} users`);
    const values = t.values(field, n);
    const users = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const u = values[i]!;
      if (!Number.isInteger(u) || u < type.min || u > type.max) throw invalidArgument(`${field}.data[${i}]`, `${u} is not a ${t.datatype} value`);
      if (u < 0 || u >= s.model.numUsers) throw invalidArgument(`${field}.data[${i}]`, `user ${u} out of range [0, ${s.model.numUsers}) of model ${req.modelName} v${s.model.version}`);
      users[i] = u;
    }
    const top = await this.server.recommendMany(s, users, k, req.parameters.include_seen === true);
    return { modelName: req.modelName, modelVersion: String(s.model.version), id: req.id, users: n, top, outputs };
  }
}

// ---- gRPC ------------------------------------------------------------------------------

type Contents = inference.InferTensorContents;
/** Which typed contents field carries each integer datatype (the spec's table). */
const CONTENTS_FIELD: Record<string, keyof Contents> = {
  INT8: 'intContents', INT16: 'intContents', INT32: 'intContents', INT64: 'int64Contents',
  UINT8: 'uintContents', UINT16: 'uintContents', UINT32: 'uintContents', UINT64: 'uint64Contents',
};
const SNAKE: Record<string, string> = {
  boolContents: 'bool_contents', intContents: 'int_contents', int64Contents: 'int64_contents', uintContents: 'uint_contents',
  uint64Contents: 'uint64_contents', fp32Contents: 'fp32_contents', fp64Contents: 'fp64_contents', bytesContents: 'bytes_contents',
};

function paramsOf(field: string, p: Record<string, inference.InferParameter>): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [name, v] of Object.entries(p)) {
    const value = v.boolParam ?? v.int64Param ?? v.uint64Param ?? v.doubleParam ?? v.stringParam;
    if (value === undefined) throw invalidArgument(`${field}.${name}`, 'has no value');
    out[name] = value;
  }
  return out;
}

/** A gRPC input tensor: typed contents matching its datatype, or its raw_input_contents entry. */
function grpcInput(t: inference.ModelInferRequest_InferInputTensor, raw: Buffer | undefined, index: number): InputTensor {
  return {
    name: t.name,
    datatype: t.datatype,
    shape: t.shape,
    values(field, count) {
      const type = INT_TYPES[t.datatype]!;
      const c = t.contents;
      const used = c ? Object.entries(c).filter(([, v]) => Array.isArray(v) && v.length) : [];
      if (raw && raw.byteLength) {
        if (used.length) throw invalidArgument(`${field}.contents`, 'give the data either as contents or as raw_input_contents, not both');
        if (raw.byteLength !== count * type.bytes) throw invalidArgument(`raw_input_contents[${index}]`, `${raw.byteLength} bytes, but shape [${t.shape.join(', ')}] of ${t.datatype} needs ${count * type.bytes}`);
        const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        const out = new Float64Array(count);
        for (let i = 0; i < count; i++) {
          const at = i * type.bytes;
          switch (type.bytes) {
            case 1: out[i] = type.signed ? dv.getInt8(at) : dv.getUint8(at); break;
            case 2: out[i] = type.signed ? dv.getInt16(at, true) : dv.getUint16(at, true); break;
            case 4: out[i] = type.signed ? dv.getInt32(at, true) : dv.getUint32(at, true); break;
            default: {
              const b = type.signed ? dv.getBigInt64(at, true) : dv.getBigUint64(at, true);
              out[i] = b > BigInt(Number.MAX_SAFE_INTEGER) || b < -BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(b);
            }
          }
        }
        return out;
      }
      const want = CONTENTS_FIELD[t.datatype]!;
      const other = used.find(([k]) => k !== want);
      if (other) throw invalidArgument(`${field}.contents`, `${t.datatype} data goes in ${SNAKE[want]}, got ${SNAKE[other[0]] ?? other[0]}`);
      const v = (c?.[want] ?? []) as number[];
      if (v.length !== count) throw invalidArgument(`${field}.contents.${SNAKE[want]}`, `${v.length} values, but shape [${t.shape.join(', ')}] holds ${count}`);
      return v;
    },
  };
}

const emptyContents = (): Contents => ({ boolContents: [], intContents: [], int64Contents: [], uintContents: [], uint64Contents: [], fp32Contents: [], fp64Contents: [], bytesContents: [] });

/** The GRPCInferenceService implementation over an Oip. */
export function inferenceService(oip: Oip): inference.GRPCInferenceServiceServer {
  return {
    serverLive: unary(() => ({ live: true })),
    serverReady: unary(() => ({ ready: oip.ready })),
    serverMetadata: unary(() => oip.serverMetadata()),
    modelReady: unary((req) => ({ ready: oip.modelReady(req.name, req.version) })),
    modelMetadata: unary((req) => oip.modelMetadata(req.name, req.version)),
    modelInfer: unary(async (req) => {
      const r = await oip.infer({
        modelName: req.modelName,
        modelVersion: req.modelVersion,
        id: req.id,
        parameters: paramsOf('parameters', req.parameters),
        inputs: req.inputs.map((t, i) => grpcInput(t, req.rawInputContents[i], i)),
        outputs: req.outputs.length ? req.outputs.map((o) => ({ name: o.name, parameters: paramsOf(`outputs[${o.name}].parameters`, o.parameters) })) : undefined,
      });
      const shape = [r.users, r.top.k];
      return {
        modelName: r.modelName,
        modelVersion: r.modelVersion,
        id: r.id,
        parameters: {},
        outputs: r.outputs.map((name) =>
          name === 'items'
            ? { name, datatype: 'INT64', shape, parameters: {}, contents: { ...emptyContents(), int64Contents: Array.from(r.top.items) } }
            : { name, datatype: 'FP32', shape, parameters: {}, contents: { ...emptyContents(), fp32Contents: Array.from(r.top.scores) } },
        ),
        rawOutputContents: [],
      };
    }),
  };
}
