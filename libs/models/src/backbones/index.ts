import type { BackboneDef } from '../types';
import { lightgcn } from './lightgcn';
import { mf } from './mf';
import { neumf } from './neumf';

/** Backbone registry: a new backbone is one file plus one line here. */
export const backbones: Record<string, BackboneDef> = {
  mf,
  lightgcn,
  neumf,
};
