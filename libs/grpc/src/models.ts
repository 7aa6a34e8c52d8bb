import { Metadata } from '@grpc/grpc-js';
import { evaluator } from '@robustrec/contracts';
import { RrError } from '@robustrec/core';
import { callOptions, iterate, peerClient, reportFailure } from './client';
import { fromServiceError } from './errors';

/** Tensor bytes travel in chunks of at most this size (well under the message limit). */
export const TENSOR_CHUNK_BYTES = 1 << 20;

const bytesOf = (t: Float32Array): Buffer => Buffer.from(t.buffer, t.byteOffset, t.byteLength);

/**
 * Uploads a model to a ModelRegistryService: the header, then every tensor in chunks
 * (float32 little endian). Resolves to the registered model (id and version assigned).
 */
export function registerModel(address: string, header: evaluator.Model, tensors: Record<string, Float32Array>): Promise<evaluator.Model> {
  const c = peerClient(evaluator.ModelRegistryServiceClient, address);
  return new Promise<evaluator.Model>((resolve, reject) => {
    const stream = c.registerModel(new Metadata(), callOptions('transfer'), (err, res) => {
      if (err) {
        reportFailure(c, err);
        reject(fromServiceError(err, 'RegisterModel', address));
      } else resolve(res.model!);
    });
    stream.write({ header, chunk: undefined });
    for (const [name, t] of Object.entries(tensors)) {
      const b = bytesOf(t);
      let off = 0;
      do {
        stream.write({ header: undefined, chunk: { name, offset: off, data: b.subarray(off, off + TENSOR_CHUNK_BYTES) } });
        off += TENSOR_CHUNK_BYTES;
      } while (off < b.byteLength);
    }
    stream.end();
  });
}

/** Downloads a model's header and tensors from a ModelRegistryService. */
export async function downloadModel(address: string, ref: evaluator.ModelRef): Promise<{ header: evaluator.Model; tensors: Record<string, Float32Array> }> {
  const c = peerClient(evaluator.ModelRegistryServiceClient, address);
  let header: evaluator.Model | undefined;
  const buffers: Record<string, Uint8Array> = {};
  for await (const msg of iterate(c.downloadModel({ model: ref }, callOptions('transfer')), c)) {
    if (msg.header) {
      header = msg.header;
      for (const t of header.tensors) buffers[t.name] = new Uint8Array(4 * t.shape.reduce((a, b) => a * b, 1));
    } else if (msg.chunk) {
      const buf = buffers[msg.chunk.name];
      if (!buf) throw new RrError('INTERNAL', `DownloadModel: chunk of undeclared tensor ${msg.chunk.name}`);
      buf.set(msg.chunk.data, msg.chunk.offset);
    }
  }
  if (!header) throw new RrError('INTERNAL', 'DownloadModel: no header received');
  const tensors = Object.fromEntries(Object.entries(buffers).map(([k, b]) => [k, new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)]));
  return { header, tensors };
}
