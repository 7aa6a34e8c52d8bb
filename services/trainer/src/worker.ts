/**
 * Training worker thread: one job from dataset fetch to exported model. Runs off the
 * service's event loop so gRPC stays responsive; writes a checkpoint after every epoch
 * (atomic rename) and resumes from it when restarted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { existsSync, readFileSync } from 'node:fs';
import { csrUnion, failpoint, RrError } from '@robustrec/core';
import { atomicWriteFile } from '@robustrec/store';
import { fetchInteractionData } from '@robustrec/grpc';
import { decodeCheckpoint, encodeCheckpoint, createScorer, Trainer, type JobOptions, type TrainConfig } from '@robustrec/models';
import { evaluateRanking } from '@robustrec/metrics';

export interface WorkerInput {
  jobId: string;
  datasetId: string;
  dataAddress: string;
  config: TrainConfig;
  options: JobOptions;
  checkpointPath: string;
  /** Int32Array over a SharedArrayBuffer: [0] = 1 asks the worker to stop at the next step. */
  cancelFlag: SharedArrayBuffer;
  /** Optimiser-update threads (results are identical for any value). */
  threads: number;
}

export type WorkerMessage =
  | { type: 'started'; epoch: number; numUsers: number; numItems: number }
  /** An epoch's results, sent before its checkpoint; the worker waits for HistoryStored. */
  | { type: 'history'; epoch: number; seconds: number; metrics: Record<string, number> }
  | { type: 'epoch'; epoch: number; seconds: number; metrics: Record<string, number> }
  | { type: 'done'; numUsers: number; numItems: number; backbone: string; tensors: Record<string, { shape: number[]; data: Float32Array }>; engine: Record<string, string> }
  | { type: 'cancelled'; epoch: number }
  | { type: 'failed'; error: string; code: string };

/** The service's answer to a 'history' message: that epoch's row is committed. */
export interface HistoryStored {
  type: 'history-stored';
  epoch: number;
}

class Cancelled extends Error {}

/** Resolves when the service has stored the history row of `epoch`. */
function historyStored(epoch: number): Promise<void> {
  return new Promise((resolve) => {
    const on = (m: HistoryStored): void => {
      if (m.type !== 'history-stored' || m.epoch !== epoch) return;
      parentPort!.off('message', on);
      resolve();
    };
    parentPort!.on('message', on);
  });
}

async function run(input: WorkerInput): Promise<void> {
  const post = (m: WorkerMessage): void => parentPort!.postMessage(m);
  const cancel = new Int32Array(input.cancelFlag);
  const { data } = await fetchInteractionData(input.dataAddress, input.datasetId);
  const train = input.options.trainOnValid ? csrUnion(data.train, data.valid) : data.train;
  const model = existsSync(input.checkpointPath)
    ? Trainer.restore(train, input.config, decodeCheckpoint(readFileSync(input.checkpointPath)), { threads: input.threads })
    : Trainer.create(train, input.config, { threads: input.threads });
  try {
    await trainLoop(model, input, data, post, cancel);
  } finally {
    await model.close();
  }
}

async function trainLoop(model: Trainer, input: WorkerInput, data: Awaited<ReturnType<typeof fetchInteractionData>>['data'], post: (m: WorkerMessage) => void, cancel: Int32Array): Promise<void> {
  post({ type: 'started', epoch: model.epoch, numUsers: data.numUsers, numItems: data.numItems });
  while (model.epoch < input.config.epochs) {
    const r = model.runEpoch(() => {
      if (Atomics.load(cancel, 0) === 1) throw new Cancelled();
    });
    const metrics = { ...r.metrics };
    const { evalEvery, trainOnValid } = input.options;
    if (evalEvery > 0 && r.epoch % evalEvery === 0 && !trainOnValid) {
      const exported = model.exportModel();
      const res = evaluateRanking({
        scorer: createScorer(exported),
        numGenuineUsers: data.numGenuineUsers,
        exclude: [data.train],
        relevant: data.valid,
        ks: [20],
      });
      for (const [k, v] of Object.entries(res.metrics)) metrics[`valid_${k}`] = v;
    }
    // The epoch's history row is committed before its checkpoint makes the epoch final: a
    // trainer killed in between trains the epoch again (bit-identically) and rewrites the row,
    // so the history never lacks an epoch the checkpoint holds.
    post({ type: 'history', epoch: r.epoch, seconds: r.seconds, metrics });
    await historyStored(r.epoch);
    atomicWriteFile(input.checkpointPath, [encodeCheckpoint(model.checkpoint())]);
    post({ type: 'epoch', epoch: r.epoch, seconds: r.seconds, metrics });
    // a test freezes a job here, its epoch checkpointed and reported, so a SIGKILL lands mid-job
    failpoint('trainer.epoch-reported');
  }
  const exported = model.exportModel();
  // Structured clone (no transfer list): tensors may be views of one shared buffer.
  post({ type: 'done', numUsers: exported.numUsers, numItems: exported.numItems, backbone: exported.backbone, tensors: exported.tensors, engine: model.engineReport() });
}

run(workerData as WorkerInput).catch((e: unknown) => {
  if (e instanceof Cancelled) parentPort!.postMessage({ type: 'cancelled', epoch: -1 } satisfies WorkerMessage);
  else
    parentPort!.postMessage({
      type: 'failed',
      error: e instanceof Error ? e.message : String(e),
      code: e instanceof RrError ? e.code : 'INTERNAL',
    } satisfies WorkerMessage);
});
