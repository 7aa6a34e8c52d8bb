/**
 * TensorFlow.js backend selection. `@tensorflow/tfjs-node-gpu` / `@tensorflow/tfjs-node` are
 * the production backends when installed (they download libtensorflow at install time, which
 * these machines cannot do), so they are optional: loaded by a dynamic import when present and
 * never required. Otherwise the plain cpu backend serves the reference implementations and
 * small tensor work, while the training hot loops run in the fused kernels of this package.
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
  /** Where training hot loops run. */
  trainingKernels: 'fused-float32array';
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
      loaded = { tfjsBackend: tf.getBackend(), package: pkg, trainingKernels: 'fused-float32array' };
      return loaded;
    } catch {
      /* not installed here: fall through */
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  loaded = { tfjsBackend: tf.getBackend(), package: '@tensorflow/tfjs-backend-cpu', trainingKernels: 'fused-float32array' };
  return loaded;
}

/** The backend in use without loading anything new (cpu unless loadBestBackend found another). */
export function backendInfo(): BackendInfo {
  return loaded ?? { tfjsBackend: 'cpu', package: '@tensorflow/tfjs-backend-cpu', trainingKernels: 'fused-float32array' };
}

export { tf };
