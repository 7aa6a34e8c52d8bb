import type { DefenseDef } from '../types';

export const none: DefenseDef = {
  name: 'none',
  description: 'No defense: plain BPR training',
  params: {},
  options: {},
  create: () => ({ apply: () => 0 }),
};
