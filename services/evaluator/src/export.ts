/**
 * Exports of a registered model to the formats other runtimes load:
 *
 * - tfjs: a TensorFlow.js LayersModel (model.json + 4 MB weight shards, the layout
 *   tensorflowjs_converter writes): user id [n, 1] -> Embedding(users, dim) -> Flatten ->
 *   Dense(items, no bias, kernel = item table transposed) -> scores [n, items]. Its scores are
 *   the dot products RobustRec serves; top-k with seen items masked is the caller's
 *   tf.topk over them (the seen items are RobustRec's dataset, not part of the model).
 *   Dot-product backbones only (MF, LightGCN's propagated tables, any defense).
 * - npy: every stored tensor as NumPy .npy (format 1.0, little-endian float32, C order),
 *   plus model.json with the header (name, version, backbone, shapes).
 *
 * Files are written to a temporary directory beside the target and renamed into place, so an
 * interrupted export leaves no half-written model under the target name.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { evaluator } from '@robustrec/contracts';
import { failedPrecondition, invalidArgument } from '@robustrec/core';
import { isDotProductScorer } from '@robustrec/scoring';
import { scorerFor } from './models';

export const EXPORT_FORMATS = ['tfjs', 'npy'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Shard size of tfjs weights (tensorflowjs_converter's default). */
const SHARD_BYTES = 4 * 1024 * 1024;

type Tensors = Record<string, Float32Array>;

/** NumPy .npy v1.0 bytes of a float32 C-order array. */
export function npyBytes(shape: readonly number[], data: Float32Array): Buffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** The files of a TensorFlow.js LayersModel of a dot-product model: name -> bytes. */
export function tfjsFiles(model: evaluator.Model, tensors: Tensors): Record<string, Buffer> {
  // the backbone's own scorer decides: only a dot product of the two tables is this graph (NeuMF's
  // tables have the same names but an MLP on top)
  const shaped = Object.fromEntries(model.tensors.map((t) => [t.name, { shape: t.shape, data: tensors[t.name]! }]));
  if (!isDotProductScorer(scorerFor({ header: model, tensors: shaped })))
    throw failedPrecondition(`model ${model.name} v${model.version} (${model.backbone}) is not a dot-product model: tfjs export covers dot-product models; use --format npy`);
  const u = tensors.user_embedding;
  const v = tensors.item_embedding;
  const ut = model.tensors.find((t) => t.name === 'user_embedding');
  const vt = model.tensors.find((t) => t.name === 'item_embedding');
  if (!u || !v || !ut || !vt || ut.shape.length !== 2 || vt.shape.length !== 2 || ut.shape[1] !== vt.shape[1])
    throw failedPrecondition(`model ${model.name} v${model.version} (${model.backbone}) has no user_embedding/item_embedding pair of one width: tfjs export covers dot-product models; use --format npy`);
  const [numUsers, dim] = ut.shape as [number, number];
  const numItems = vt.shape[0]!;
  // Dense kernel [dim, items]: the item table transposed
  const kernel = new Float32Array(dim * numItems);
  for (let i = 0; i < numItems; i++) for (let d = 0; d < dim; d++) kernel[d * numItems + i] = v[i * dim + d]!;
  const weights = Buffer.concat([Buffer.from(u.buffer, u.byteOffset, u.byteLength), Buffer.from(kernel.buffer)]);
  const shards = Math.max(1, Math.ceil(weights.byteLength / SHARD_BYTES));
  const files: Record<string, Buffer> = {};
  const paths: string[] = [];
  for (let s = 0; s < shards; s++) {
    const name = `group1-shard${s + 1}of${shards}.bin`;
    paths.push(name);
    files[name] = weights.subarray(s * SHARD_BYTES, Math.min(weights.byteLength, (s + 1) * SHARD_BYTES));
  }
  const name = `robustrec_${model.backbone}`.replace(/[^\w]/g, '_');
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'robustrec',
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: {
        name,
        layers: [
          { class_name: 'Embedding', config: { name: 'user_embedding', trainable: false, batch_input_shape: [null, 1], dtype: 'float32', input_dim: numUsers, output_dim: dim, input_length: 1, mask_zero: false } },
          { class_name: 'Flatten', config: { name: 'flatten', trainable: false, dtype: 'float32' } },
          { class_name: 'Dense', config: { name: 'scores', trainable: false, dtype: 'float32', units: numItems, activation: 'linear', use_bias: false } },
        ],
      },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
    weightsManifest: [
      {
        paths,
        weights: [
          { name: 'user_embedding/embeddings', shape: [numUsers, dim], dtype: 'float32' },
          { name: 'scores/kernel', shape: [dim, numItems], dtype: 'float32' },
        ],
      },
    ],
    userDefinedMetadata: { robustrec: { name: model.name, version: model.version, id: model.id, backbone: model.backbone, defense: model.defense, datasetId: model.datasetId, numUsers, numItems } },
  };
  files['model.json'] = Buffer.from(JSON.stringify(modelJson, null, 1));
  return files;
}

/** The files of an npy export: one .npy per tensor and model.json (the header). */
export function npyFiles(model: evaluator.Model, tensors: Tensors): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (const t of model.tensors) {
    if (!/^[\w.-]{1,128}$/.test(t.name)) throw invalidArgument('tensor', `tensor name ${JSON.stringify(t.name.slice(0, 64))} is not a safe file name`);
    files[`${t.name}.npy`] = npyBytes(t.shape, tensors[t.name]!);
  }
  files['model.json'] = Buffer.from(JSON.stringify(evaluator.Model.toJSON(model), null, 1));
  return files;
}

/**
 * Writes an export into out (created; must not exist or be an empty directory), atomically:
 * a temp directory beside it, renamed into place. Returns the file names written.
 */
export function writeExport(format: ExportFormat, model: evaluator.Model, tensors: Tensors, out: string): string[] {
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw invalidArgument('--format', `one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  const files = format === 'tfjs' ? tfjsFiles(model, tensors) : npyFiles(model, tensors);
  const target = resolve(out);
  if (existsSync(target) && readdirSync(target).length) throw failedPrecondition(`--out ${basename(target)} exists and is not empty: choose a new directory`);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(tmp, name), bytes);
    if (existsSync(target)) rmSync(target, { recursive: true });
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return Object.keys(files);
}
