import { trainer } from '@robustrec/contracts';
import { invalidArgument } from '@robustrec/core';
import { OPTIMIZERS, TRAIN_OPTION_NAMES, type JobOptions, type TrainConfig, type TrainConfigInput } from './config';

/**
 * The one converter between the library's training configuration and trainer.proto, used
 * by the trainer service and the orchestrator alike. Field names are the same on both sides
 * (ts-proto camelCases the proto's snake_case); an unset proto field is an option left to its
 * default, which resolveTrainConfig alone decides.
 */
const OPTIMIZER_TO_PROTO: Record<string, trainer.Optimizer> = { adamw: trainer.Optimizer.OPTIMIZER_ADAMW, sparse_adam: trainer.Optimizer.OPTIMIZER_SPARSE_ADAM };

export function trainConfigToProto(c: TrainConfigInput | TrainConfig): trainer.TrainConfig {
  const out = {
    backbone: { name: c.backbone.name, params: c.backbone.params ?? {}, options: c.backbone.options ?? {} },
    defense: { name: c.defense.name, params: c.defense.params ?? {}, options: c.defense.options ?? {} },
    optimizer: trainer.Optimizer.OPTIMIZER_UNSPECIFIED,
  } as trainer.TrainConfig;
  if (c.optimizer) {
    const o = OPTIMIZER_TO_PROTO[c.optimizer];
    if (o === undefined) throw invalidArgument('optimizer', `must be one of ${OPTIMIZERS.join(', ')}, got ${JSON.stringify(c.optimizer)}`);
    out.optimizer = o;
  }
  for (const k of TRAIN_OPTION_NAMES) out[k] = c[k];
  return out;
}

export function trainConfigFromProto(c: trainer.TrainConfig | undefined): TrainConfigInput {
  const input: TrainConfigInput = {
    backbone: { name: c?.backbone?.name ?? '', params: c?.backbone?.params ?? {}, options: c?.backbone?.options ?? {} },
    defense: { name: c?.defense?.name || 'none', params: c?.defense?.params ?? {}, options: c?.defense?.options ?? {} },
  };
  for (const k of TRAIN_OPTION_NAMES) if (c?.[k] !== undefined) input[k] = c[k];
  const optimizer = OPTIMIZERS.find((o) => OPTIMIZER_TO_PROTO[o] === c?.optimizer);
  if (optimizer) input.optimizer = optimizer;
  else if (c?.optimizer) input.optimizer = `unknown (${c.optimizer})` as TrainConfigInput['optimizer'];
  return input;
}

export const jobOptionsToProto = (o: JobOptions): trainer.JobOptions => ({ trainOnValid: o.trainOnValid, evalEvery: o.evalEvery });
export const jobOptionsFromProto = (o: trainer.JobOptions | undefined): JobOptions => ({ trainOnValid: o?.trainOnValid ?? false, evalEvery: o?.evalEvery ?? 0 });

