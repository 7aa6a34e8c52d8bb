import { checkNumber, invalidArgument } from '@robustrec/core';
import type { OptimizerKind } from '@robustrec/engine';
import { backbones } from './backbones';
import { defenses } from './defenses';
import { defaultOptions, defaultParams, resolveComponent, type ComponentSpec, type ResolvedComponent } from './spec';

/** Mirrors trainer.proto TrainConfig; everything but the component names is optional. */
export interface TrainConfigInput {
  backbone: { name: string; params?: Record<string, number>; options?: Record<string, string> };
  defense: { name: string; params?: Record<string, number>; options?: Record<string, string> };
  epochs?: number;
  batchSize?: number;
  dim?: number;
  lr?: number;
  weightDecay?: number;
  l2?: number;
  optimizer?: OptimizerKind;
  seed?: number;
  initStd?: number;
}

/** A fully resolved configuration (defaults of the published code filled in). */
export interface TrainConfig {
  backbone: ResolvedComponent;
  defense: ResolvedComponent;
  epochs: number;
  batchSize: number;
  dim: number;
  lr: number;
  weightDecay: number;
  l2: number;
  optimizer: OptimizerKind;
  seed: number;
  initStd: number;
}

export const TRAIN_DEFAULTS = { epochs: 30, batchSize: 2048, dim: 64, lr: 1e-3, weightDecay: 0.01, l2: 1e-4, optimizer: 'adamw' as OptimizerKind, seed: 2024, initStd: 0.1 };

/**
 * Fills defaults and validates; throws INVALID_ARGUMENT naming the field
 * ("config.batch_size", "config.defense.params.eps", ...). undefined means default; an explicit
 * 0 batch size / epochs / dim is invalid (map proto zero values to undefined before calling).
 */
export function resolveTrainConfig(input: TrainConfigInput): TrainConfig {
  if (!input || typeof input !== 'object') throw invalidArgument('config', 'missing');
  const bName = input.backbone?.name;
  const bSpec = bName ? backbones[bName] : undefined;
  if (!bSpec) throw invalidArgument('config.backbone.name', `unknown backbone ${JSON.stringify(bName)} (known: ${Object.keys(backbones).join(', ')})`);
  const dName = input.defense?.name;
  const dSpec = dName ? defenses[dName] : undefined;
  if (!dSpec) throw invalidArgument('config.defense.name', `unknown defense ${JSON.stringify(dName)} (known: ${Object.keys(defenses).join(', ')})`);
  const d = TRAIN_DEFAULTS;
  const num = (field: string, v: number | undefined, def: number, min: number, max: number, integer = false): number =>
    v === undefined ? def : checkNumber(field, v, min, max, integer);
  const cfg: TrainConfig = {
    backbone: resolveComponent(bSpec, input.backbone, 'config.backbone'),
    defense: resolveComponent(dSpec, input.defense, 'config.defense'),
    epochs: num('config.epochs', input.epochs, d.epochs, 1, 10_000, true),
    batchSize: num('config.batch_size', input.batchSize, d.batchSize, 1, 1 << 20, true),
    dim: num('config.dim', input.dim, d.dim, 1, 4096, true),
    lr: num('config.lr', input.lr, d.lr, Number.MIN_VALUE, 10),
    weightDecay: num('config.weight_decay', input.weightDecay, d.weightDecay, 0, 1),
    l2: num('config.l2', input.l2, d.l2, 0, 100),
    optimizer: input.optimizer ?? d.optimizer,
    seed: num('config.seed', input.seed, d.seed, 0, Number.MAX_SAFE_INTEGER, true),
    initStd: num('config.init_std', input.initStd, d.initStd, Number.MIN_VALUE, 10),
  };
  if (cfg.optimizer !== 'adamw' && cfg.optimizer !== 'sparse_adam') throw invalidArgument('config.optimizer', `must be adamw or sparse_adam, got ${JSON.stringify(cfg.optimizer)}`);
  if (cfg.backbone.name === 'neumf' && cfg.dim % 2 !== 0) throw invalidArgument('config.dim', `neumf needs an even dim, got ${cfg.dim}`);
  if (cfg.lr * cfg.weightDecay >= 1) throw invalidArgument('config.weight_decay', 'lr·weight_decay must be < 1');
  return cfg;
}

export interface ComponentInfo {
  name: string;
  description: string;
  defaultParams: Record<string, number>;
  defaultOptions: Record<string, string>;
}

const info = (s: ComponentSpec): ComponentInfo => ({ name: s.name, description: s.description, defaultParams: defaultParams(s), defaultOptions: defaultOptions(s) });

export const listBackbones = (): ComponentInfo[] => Object.values(backbones).map(info);
export const listDefenses = (): ComponentInfo[] => Object.values(defenses).map(info);
