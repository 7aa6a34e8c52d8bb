import type { AttackGenerator } from '../types';
import { average } from './average';
import { bandwagon } from './bandwagon';
import { dp } from './dp';
import { random } from './random';
import { rev } from './rev';
import { segment } from './segment';

/** The registry of built-in generators: adding an attack = one file + one line here. */
export const generators: ReadonlyMap<string, AttackGenerator> = new Map(
  [random, bandwagon, average, segment, dp, rev].map((g) => [g.spec.name, g]),
);
