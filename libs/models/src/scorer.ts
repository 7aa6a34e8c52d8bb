import { invalidArgument } from '@robustrec/core';
import { backbones } from './backbones';
import type { ExportedModel } from './trainer';
import type { Scorer } from '@robustrec/scoring';

/** Full-ranking scorer of an exported model: dot product for mf/lightgcn, the MLP for neumf. */
export function createScorer(model: Pick<ExportedModel, 'backbone' | 'tensors'>): Scorer {
  const def = backbones[model.backbone];
  if (!def) throw invalidArgument('model.backbone', `unknown backbone ${JSON.stringify(model.backbone)}`);
  return def.createScorer(model.tensors);
}
