import { trainer } from '@robustrec/contracts';
import { invalidArgument } from '@robustrec/core';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from '@robustrec/models';

/**
 * proto TrainConfig -> library config. Proto zero values mean "the published code's
 * default", so they are left out and the models library fills them in and validates.
 */
export function fromProto(c: trainer.TrainConfig | undefined): TrainConfig {
  if (!c) throw invalidArgument('config', 'is required');
  if (!c.backbone?.name) throw invalidArgument('config.backbone.name', 'is required (e.g. "mf", "lightgcn", "neumf")');
  const input: TrainConfigInput = {
    backbone: { name: c.backbone.name, params: c.backbone.params, options: c.backbone.options },
    defense: { name: c.defense?.name || 'none', params: c.defense?.params ?? {}, options: c.defense?.options ?? {} },
  };
  const nz = (v: number): number | undefined => (v === 0 ? undefined : v);
  input.epochs = nz(c.epochs);
  input.batchSize = nz(c.batchSize);
  input.dim = nz(c.dim);
  input.lr = nz(c.lr);
  input.initStd = nz(c.initStd);
  input.seed = c.seed === 0 ? undefined : c.seed;
  if (c.weightDecay !== undefined) input.weightDecay = c.weightDecay;
  if (c.l2 !== undefined) input.l2 = c.l2;
  if (c.optimizer === trainer.Optimizer.OPTIMIZER_SPARSE_ADAM) input.optimizer = 'sparse_adam';
  else if (c.optimizer === trainer.Optimizer.OPTIMIZER_ADAMW) input.optimizer = 'adamw';
  return resolveTrainConfig(input);
}

/** Library config -> proto TrainConfig (resolved values, for Job messages). */
export function toProto(c: TrainConfig, trainOnValid: boolean, evalEvery: number): trainer.TrainConfig {
  return {
    backbone: { name: c.backbone.name, params: c.backbone.params ?? {}, options: c.backbone.options ?? {} },
    defense: { name: c.defense.name, params: c.defense.params ?? {}, options: c.defense.options ?? {} },
    epochs: c.epochs,
    batchSize: c.batchSize,
    dim: c.dim,
    lr: c.lr,
    weightDecay: c.weightDecay,
    l2: c.l2,
    optimizer: c.optimizer === 'sparse_adam' ? trainer.Optimizer.OPTIMIZER_SPARSE_ADAM : trainer.Optimizer.OPTIMIZER_ADAMW,
    seed: c.seed,
    trainOnValid,
    evalEvery,
    initStd: c.initStd,
  };
}
