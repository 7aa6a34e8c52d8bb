import type { DefenseDef } from '../types';
import { apr } from './apr';
import { graphrfi } from './graphrfi';
import { none } from './none';
import { pamacf } from './pamacf';
import { sharpcf } from './sharpcf';
import { stdenoise } from './stdenoise';
import { vat } from './vat';

/** Defense registry: a new defense is one file plus one line here. */
export const defenses: Record<string, DefenseDef> = {
  none,
  apr,
  pamacf,
  sharpcf,
  vat,
  stdenoise,
  graphrfi,
};
