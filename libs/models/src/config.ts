import { defaultParams, invalidArgument, resolveComponent, resolveParams, type ComponentSpec, type ParamSpec, type ResolvedComponent } from '@robustrec/core';
import type { OptimizerKind } from '@robustrec/engine';
import { backbones } from './backbones';
import { defenses } from './defenses';

/**
 * The training options, defined once: name (the same in the YAML spec's `train:` section,
 * the library and trainer.proto's TrainConfig, there in snake_case), default (the published
 * code's) and bounds. Adding an option is an entry here, a field of TrainConfig in
 * proto/robustrec/v1/trainer.proto, and the code that reads it.
 */
export const TRAIN_OPTIONS = {
  epochs: { default: 30, min: 1, max: 10_000, integer: true, description: 'training epochs' },
  batchSize: { default: 2048, min: 1, max: 1 << 20, integer: true, description: 'triples per step' },
  dim: { default: 64, min: 1, max: 4096, integer: true, description: 'embedding dimension' },
  lr: { default: 1e-3, positive: true, max: 10, description: 'learning rate' },
  weightDecay: { default: 0.01, min: 0, max: 1, description: "AdamW's decoupled weight decay" },
  l2: { default: 1e-4, min: 0, max: 100, description: 'coefficient of the L2 term on the batch rows' },
  seed: { default: 2024, min: 0, max: Number.MAX_SAFE_INTEGER, integer: true, description: 'seed of initialisation and sampling' },
  initStd: { default: 0.1, positive: true, max: 10, description: 'standard deviation of the normal initialisation' },
  beta1: { default: 0.9, min: 0, max: 0.9999, description: "Adam's first-moment decay β1" },
  beta2: { default: 0.999, min: 0, max: 0.99999, description: "Adam's second-moment decay β2" },
} as const satisfies Record<string, ParamSpec>;

export type TrainOption = keyof typeof TRAIN_OPTIONS;
export const TRAIN_OPTION_NAMES = Object.keys(TRAIN_OPTIONS) as TrainOption[];
export const OPTIMIZERS: readonly OptimizerKind[] = ['adamw', 'sparse_adam'];

/** A component as requested: a name, and params/options over its defaults. */
export interface ComponentInput {
  name: string;
  params?: Record<string, number>;
  options?: Record<string, string>;
}

/** A training configuration as requested: every option but the component names may be left out (default). */
export type TrainConfigInput = Partial<Record<TrainOption, number>> & {
  backbone: ComponentInput;
  defense: ComponentInput;
  optimizer?: OptimizerKind;
};

/** A fully resolved configuration (defaults filled in, everything validated). */
export type TrainConfig = Record<TrainOption, number> & {
  backbone: ResolvedComponent;
  defense: ResolvedComponent;
  optimizer: OptimizerKind;
};

/** How a training job runs, beside its configuration. */
export interface JobOptions {
  /** Train on train ∪ valid (the paper's Gowalla setting). */
  trainOnValid: boolean;
  /** Validation metrics every this many epochs (0: never). */
  evalEvery: number;
}

/** TrainConfigInput field name -> its proto/error-path name ("batchSize" -> "batch_size"). */
export const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The defaults of every option (the published code's recipe). */
export const TRAIN_DEFAULTS = { ...defaultParams({ params: TRAIN_OPTIONS }), optimizer: 'adamw' } as Omit<TrainConfig, 'backbone' | 'defense'>;

/**
 * Fills defaults and validates; throws INVALID_ARGUMENT naming the field
 * ("config.batch_size", "config.defense.params.eps", ...). undefined means default.
 */
export function resolveTrainConfig(input: TrainConfigInput): TrainConfig {
  if (!input || typeof input !== 'object') throw invalidArgument('config', 'missing');
  const { backbone, defense, optimizer, ...scalars } = input;
  const bSpec = backbone?.name ? backbones[backbone.name] : undefined;
  if (!bSpec || !Object.hasOwn(backbones, backbone.name)) throw invalidArgument('config.backbone.name', `unknown backbone ${JSON.stringify(backbone?.name)} (known: ${Object.keys(backbones).join(', ')})`);
  const dSpec = defense?.name ? defenses[defense.name] : undefined;
  if (!dSpec || !Object.hasOwn(defenses, defense.name)) throw invalidArgument('config.defense.name', `unknown defense ${JSON.stringify(defense?.name)} (known: ${Object.keys(defenses).join(', ')})`);
  const cfg = {
    ...(resolveParams(TRAIN_OPTIONS, scalars, (k) => `config.${snakeCase(k)}`, 'config') as Record<TrainOption, number>),
    backbone: resolveComponent(bSpec, backbone, 'config.backbone'),
    defense: resolveComponent(dSpec, defense, 'config.defense'),
    optimizer: optimizer ?? TRAIN_DEFAULTS.optimizer,
  };
  if (!OPTIMIZERS.includes(cfg.optimizer)) throw invalidArgument('config.optimizer', `must be one of ${OPTIMIZERS.join(', ')}, got ${JSON.stringify(cfg.optimizer)}`);
  if (cfg.lr * cfg.weightDecay >= 1) throw invalidArgument('config.weight_decay', 'lr·weight_decay must be < 1');
  bSpec.validate?.(cfg);
  return cfg;
}

/** Checks job options; INVALID_ARGUMENT names the field. */
export function checkJobOptions(o: JobOptions): JobOptions {
  if (!Number.isInteger(o.evalEvery) || o.evalEvery < 0) throw invalidArgument('options.eval_every', `must be a non-negative integer, got ${o.evalEvery}`);
  return { trainOnValid: o.trainOnValid === true, evalEvery: o.evalEvery };
}

/** Every component a training config names, and the training options as a component ("train"): what ListComponents lists. */
export function componentSpecs(): { backbones: ComponentSpec[]; defenses: ComponentSpec[]; train: ComponentSpec } {
  return {
    backbones: Object.values(backbones),
    defenses: Object.values(defenses),
    train: {
      name: 'train',
      description: 'training options of TrainConfig',
      params: TRAIN_OPTIONS,
      options: { optimizer: { default: TRAIN_DEFAULTS.optimizer, values: OPTIMIZERS, description: 'adamw: dense AdamW (lazy-exact); sparse_adam: only touched rows' } },
    },
  };
}
