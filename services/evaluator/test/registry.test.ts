import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { evaluator } from '@robustrec/contracts';
import { DatasetCache, ModelServer } from '../src/models';
import { ModelRegistry } from '../src/registry';

describe('ModelRegistry.load', () => {
  const header = (numUsers: number, numItems: number, dim: number) =>
    ModelRegistry.checkHeader(
      evaluator.Model.fromPartial({
        name: 'reg-test',
        backbone: 'mf',
        defense: 'none',
        datasetId: 'd',
        numUsers,
        numItems,
        tensors: [
          { name: 'user_embedding', shape: [numUsers, dim] },
          { name: 'item_embedding', shape: [numItems, dim] },
        ],
      }),
    );
  const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

  it('reads the tensors into one shared buffer (serving threads share it as is) and refuses a short file by name', () => {
    const dir = mkdtempSync(`${tmpdir()}/rr-reg-`);
    const registry = new ModelRegistry(dir);
    try {
      const U = Float32Array.from({ length: 3 * 4 }, (_, i) => i / 7);
      const V = Float32Array.from({ length: 5 * 4 }, (_, i) => -i / 3);
      const model = registry.register(header(3, 5, 4), { user_embedding: bytes(U), item_embedding: bytes(V) });
      const loaded = registry.load(model);
      expect(Array.from(loaded.tensors.user_embedding!.data)).toEqual(Array.from(U));
      expect(Array.from(loaded.tensors.item_embedding!.data)).toEqual(Array.from(V));
      expect(loaded.tensors.user_embedding!.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(loaded.tensors.item_embedding!.data.buffer).toBe(loaded.tensors.user_embedding!.data.buffer);
      // a tensor file cut short (disk trouble, a hand edit) is DATA_LOSS naming the model, not a RangeError
      truncateSync(registry.artifacts.path(`${model.id}.bin`), 10);
      expect(() => registry.load(model)).toThrow(expect.objectContaining({ code: 'DATA_LOSS', message: `model ${model.id}: tensor file holds 10 bytes, its header 128` }));
    } finally {
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('evaluation keeps the scorer of the model evaluated last (a sharded evaluation reads the file once per replica)', async () => {
    const dir = mkdtempSync(`${tmpdir()}/rr-reg-`);
    const registry = new ModelRegistry(dir);
    // no model is served here, so the data service address is never dialled
    const server = new ModelServer(registry, new DatasetCache('127.0.0.1:1'));
    try {
      const table = (n: number, seed: number) => Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(i + seed));
      const a = registry.register(header(3, 5, 4), { user_embedding: bytes(table(3, 1)), item_embedding: bytes(table(5, 2)) });
      const b = registry.register(header(3, 5, 4), { user_embedding: bytes(table(3, 3)), item_embedding: bytes(table(5, 4)) });
      const first = server.scorerForEvaluation(a);
      // the file is not read again: cut short, the next shard's evaluation still gets the scorer
      truncateSync(registry.artifacts.path(`${a.id}.bin`), 10);
      expect(server.scorerForEvaluation(a)).toBe(first);
      const other = server.scorerForEvaluation(b);
      expect(other).not.toBe(first);
      // one model is kept: a reads its (now short) file again
      expect(() => server.scorerForEvaluation(a)).toThrow(expect.objectContaining({ code: 'DATA_LOSS' }));
    } finally {
      await server.close();
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a serving-pool setting out of range by its variable name', () => {
    const dir = mkdtempSync(`${tmpdir()}/rr-reg-`);
    const registry = new ModelRegistry(dir);
    try {
      for (const [name, value] of [['ROBUSTREC_SERVE_BATCH', '0'], ['ROBUSTREC_SERVE_BATCH', '1e9'], ['ROBUSTREC_SERVE_THREADS', 'two']] as const) {
        process.env[name] = value;
        try {
          expect(() => new ModelServer(registry, new DatasetCache('127.0.0.1:1'))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(new RegExp(`^${name}: must be an integer in`)) }));
        } finally {
          delete process.env[name];
        }
      }
    } finally {
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
