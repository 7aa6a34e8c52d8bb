import { common, trainer } from '@robustrec/contracts';
import { invalidArgument, type ComponentSpec } from '@robustrec/core';
import { backbones } from './backbones';
import { defenses } from './defenses';
import { OPTIMIZERS, TRAIN_OPTION_NAMES, TRAIN_OPTIONS, TRAIN_DEFAULTS, type JobOptions, type TrainConfig, type TrainConfigInput } from './config';

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

/** A component's schema as proto ComponentInfo (what clients discover before they send a ComponentConfig). */
export function componentInfoToProto(s: ComponentSpec): common.ComponentInfo {
  return {
    name: s.name,
    description: s.description,
    params: Object.entries(s.params).map(([name, p]) => ({ name, defaultValue: p.default, min: p.min, max: p.max, positive: p.positive ?? false, integer: p.integer ?? false, description: p.description })),
    options: Object.entries(s.options).map(([name, o]) => ({ name, defaultValue: o.default, values: [...(o.values ?? [])], description: o.description })),
  };
}

/** TrainerService.ListComponents: every backbone and defense, and the training options. */
export function listComponents(): trainer.ListComponentsResponse {
  const train: ComponentSpec = {
    name: 'train',
    description: 'training options of TrainConfig',
    params: TRAIN_OPTIONS,
    options: { optimizer: { default: TRAIN_DEFAULTS.optimizer, values: OPTIMIZERS, description: 'adamw: dense AdamW (lazy-exact); sparse_adam: only touched rows' } },
  };
  return {
    backbones: Object.values(backbones).map(componentInfoToProto),
    defenses: Object.values(defenses).map(componentInfoToProto),
    trainOptions: componentInfoToProto(train),
  };
}
