/**
 * TensorFlow.js backend selection. `@tensorflow/tfjs-node-gpu` / `@tensorflow/tfjs-node` are
 * the production backends when installed (they download libtensorflow at install time, which
 * these machines cannot do), so they are optional: loaded by a dynamic import when present and
 * never required. Otherwise the plain cpu backend serves the reference implementations and
 * small tensor work; training runs in this package's fused kernels (wasm, JS fallback), in tfjs
 * only for NeuMF's MLP head, and each model's provenance says which ran (Trainer.engineReport).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// gradients of the ops the reference implementations use (tfjs-core registers none by default)
import '@tensorflow/tfjs-core/dist/register_all_gradients';

export interface BackendInfo {
  /** Active tfjs backend name ("tensorflow" for tfjs-node[-gpu], "cpu" otherwise). */
  tfjsBackend: string;
  /** npm package that provided it. */
  package: string;
}

let loaded: BackendInfo | undefined;

/** Loads the best available tfjs backend once and reports it (recorded in model provenance). */
export async function loadBestBackend(): Promise<BackendInfo> {
  if (loaded) return loaded;
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      // a variable specifier keeps bundlers and tsc from requiring the optional package
      const spec: string = pkg;
      await import(spec);
      await tf.setBackend('tensorflow');
      await tf.ready();
      loaded = { tfjsBackend: tf.getBackend(), package: pkg };
      return loaded;
    } catch {
      /* not installed here: fall through */
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  loaded = { tfjsBackend: tf.getBackend(), package: '@tensorflow/tfjs-backend-cpu' };
  return loaded;
}

/** The backend in use without loading anything new (cpu unless loadBestBackend found another). */
export function backendInfo(): BackendInfo {
  return loaded ?? { tfjsBackend: 'cpu', package: '@tensorflow/tfjs-backend-cpu' };
}

export { tf };
