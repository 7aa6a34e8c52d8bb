import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { canonicalJson, checkParam, invalidArgument, sha256 } from '@robustrec/core';
import { OPTIMIZERS, TRAIN_OPTIONS, type JobOptions, type TrainConfigInput } from '@robustrec/models';

/**
 * Experiment specs (YAML): datasets × attacks × models (with sweeps) × seeds. A spec is
 * data; the runner expands it into cells, each identified by a content hash so re-running
 * a spec resumes instead of redoing finished cells.
 */
export interface DatasetSpec {
  name: string;
  /** One of: LightGCN directory, public catalogue entry, generic interaction file, synthetic. */
  lightgcn?: string;
  catalogue?: string;
  interactions?: { path: string; [k: string]: unknown };
  synthetic?: Record<string, number>;
  /** Fallback when the primary source is missing (e.g. synthetic when Gowalla is absent). */
  fallback?: Omit<DatasetSpec, 'name' | 'fallback'>;
  /** Train on train ∪ valid, evaluate on test (the paper's Gowalla setting). */
  trainOnValid?: boolean;
}

export interface AttackSpec {
  name: string;
  /** Import published profiles (authors' JSON) from this path (relative: under the datasets directory). */
  profiles?: string;
  minLength?: number;
  /** Or generate with this generator through the attack service. */
  generator?: string;
  params?: Record<string, number>;
  options?: Record<string, string>;
  budget?: number;
  numTargets?: number;
  /** Target items for a generator; on a clean entry (no profiles, no generator), the items whose T-HR the clean model is measured on. */
  targets?: number[];
  targetSelection?: 'unpopular' | 'popular' | 'random';
  profileLength?: number;
  seed?: number;
}

/** Whether an attack entry poisons the data (published profiles or a generator); otherwise it is clean. */
export const poisons = (a: AttackSpec): boolean => Boolean(a.profiles || a.generator);

export interface ModelSpec {
  name: string;
  backbone: string;
  defense?: string;
  backboneParams?: Record<string, number>;
  params?: Record<string, number>;
  options?: Record<string, string>;
  /** Parameter sweeps: each value list multiplies the model into variants named "name[param=value]". */
  sweep?: Record<string, number[]>;
}

/**
 * The spec's `train:` section: the training options under their library names (libs/models
 * TRAIN_OPTIONS: epochs, batchSize, dim, lr, weightDecay, l2, initStd, and optimizer), the
 * seed excepted (`seeds:` gives it per cell), plus the job option evalEvery.
 */
export type TrainSpec = Omit<TrainConfigInput, 'backbone' | 'defense' | 'seed'> & Partial<Pick<JobOptions, 'evalEvery'>>;

export interface ExperimentSpec {
  name: string;
  seeds: number[];
  datasets: DatasetSpec[];
  attacks: AttackSpec[];
  models: ModelSpec[];
  train: TrainSpec;
  ks: number[];
}

export interface Cell {
  key: string;
  dataset: DatasetSpec;
  attack: AttackSpec;
  model: ModelSpec & { variant: string; sweepParam?: string; sweepValue?: number };
  seed: number;
  train: TrainSpec;
  ks: number[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function need<T>(v: T | undefined, path: string, what: string): T {
  if (v === undefined || v === null || v === '') throw invalidArgument(path, `is required (${what})`);
  return v;
}

function numbers(v: unknown, path: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw invalidArgument(path, 'must be a list of numbers');
  return v as number[];
}

function numMap(v: unknown, path: string): Record<string, number> | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw invalidArgument(path, 'must be a mapping of name: number');
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'number' || !Number.isFinite(x)) throw invalidArgument(`${path}.${k}`, `must be a finite number, got ${JSON.stringify(x)}`);
  return v as Record<string, number>;
}

/** Parses and validates a spec; errors name the offending path, e.g. "models[2].sweep.rho". */
export function parseSpec(text: string, source = 'spec'): ExperimentSpec {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw invalidArgument(source, `invalid YAML: ${e instanceof Error ? e.message : e}`);
  }
  if (!isObj(raw)) throw invalidArgument(source, 'must be a YAML mapping');
  const name = need(raw.name as string | undefined, 'name', 'experiment name');
  const seeds = raw.seeds === undefined ? [2024, 2025, 2026, 2027, 2028] : numbers(raw.seeds, 'seeds');
  const list = (k: string): Record<string, unknown>[] => {
    const v = raw[k as keyof typeof raw];
    if (!Array.isArray(v) || v.length === 0) throw invalidArgument(k, 'must be a non-empty list');
    return v.map((x, i) => {
      if (!isObj(x)) throw invalidArgument(`${k}[${i}]`, 'must be a mapping');
      need(x.name as string | undefined, `${k}[${i}].name`, 'a display name');
      return x;
    });
  };
  const datasets = list('datasets').map((d, i) => {
    const sources = ['lightgcn', 'catalogue', 'interactions', 'synthetic'].filter((s) => d[s] !== undefined);
    if (sources.length !== 1) throw invalidArgument(`datasets[${i}]`, 'needs exactly one of lightgcn, catalogue, interactions, synthetic');
    return d as unknown as DatasetSpec;
  });
  const attacks = list('attacks').map((a, i) => {
    if (a.profiles !== undefined && a.generator !== undefined) throw invalidArgument(`attacks[${i}]`, 'give either profiles or generator, not both');
    numMap(a.params, `attacks[${i}].params`);
    if (a.targets !== undefined) numbers(a.targets, `attacks[${i}].targets`);
    return a as unknown as AttackSpec;
  });
  const models = list('models').map((m, i) => {
    need(m.backbone as string | undefined, `models[${i}].backbone`, 'e.g. mf');
    numMap(m.params, `models[${i}].params`);
    if (m.sweep !== undefined) {
      if (!isObj(m.sweep)) throw invalidArgument(`models[${i}].sweep`, 'must be a mapping of param: [values]');
      for (const [k, v] of Object.entries(m.sweep)) numbers(v, `models[${i}].sweep.${k}`);
    }
    return m as unknown as ModelSpec;
  });
  const train = (raw.train ?? {}) as TrainSpec;
  if (!isObj(train)) throw invalidArgument('train', 'must be a mapping');
  for (const [k, v] of Object.entries(train)) {
    if (k === 'optimizer') {
      if (!OPTIMIZERS.includes(v as never)) throw invalidArgument('train.optimizer', `must be one of ${OPTIMIZERS.join(', ')}, got ${JSON.stringify(v)}`);
    } else if (k === 'evalEvery') checkParam('train.evalEvery', { default: 0, min: 0, integer: true, description: '' }, v as number);
    else if (k === 'seed') throw invalidArgument('train.seed', 'seeds are given per cell by the top-level `seeds:` list');
    else if (Object.hasOwn(TRAIN_OPTIONS, k)) checkParam(`train.${k}`, TRAIN_OPTIONS[k as keyof typeof TRAIN_OPTIONS], v as number);
    else throw invalidArgument(`train.${k}`, `unknown training option (accepted: ${[...Object.keys(TRAIN_OPTIONS).filter((o) => o !== 'seed'), 'optimizer', 'evalEvery'].join(', ')})`);
  }
  const ks = raw.ks === undefined ? [10, 20, 50] : numbers(raw.ks, 'ks');
  return { name, seeds, datasets, attacks, models, train, ks };
}

export function loadSpec(path: string): ExperimentSpec {
  return parseSpec(readFileSync(path, 'utf8'), path);
}

/** Expands a spec into cells (dataset-major order, so shared data/attack work happens once). */
export function expandCells(spec: ExperimentSpec): Cell[] {
  const variants = spec.models.flatMap((m) => {
    const base = { ...m, variant: m.name };
    if (!m.sweep) return [base];
    return Object.entries(m.sweep).flatMap(([param, values]) =>
      values.map((value) => ({ ...m, params: { ...m.params, [param]: value }, variant: `${m.name}[${param}=${value}]`, sweepParam: param, sweepValue: value })),
    );
  });
  const cells: Cell[] = [];
  // Seed-major order: an interrupted grid leaves whole seeds finished, which is what the tables average over.
  for (const seed of spec.seeds)
    for (const dataset of spec.datasets)
      for (const attack of spec.attacks)
        for (const model of variants) {
          const identity = { dataset, attack, model, seed, train: spec.train, ks: spec.ks };
          cells.push({ key: sha256(canonicalJson(identity)).slice(0, 20), dataset, attack, model, seed, train: spec.train, ks: spec.ks });
        }
  return cells;
}
