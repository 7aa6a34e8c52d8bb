import { invalidArgument } from '@robustrec/core';
import type { Profile } from './types';

/** The authors' published format: {"target_items": ["id",...], "fake_users": {"name": ["id",...]}}. */
export interface AuthorsJson {
  target_items: string[];
  fake_users: Record<string, string[]>;
}

export function toAuthorsJson(targets: number[], profiles: Profile[]): string {
  const doc: AuthorsJson = {
    target_items: targets.map(String),
    fake_users: Object.fromEntries(profiles.map((p) => [p.name, p.items.map(String)])),
  };
  return JSON.stringify(doc);
}

/** Parses the authors' format; `minLength` drops short profiles as their loader does (10). */
export function fromAuthorsJson(text: string, source = 'json', minLength = 0): { targets: number[]; profiles: Profile[]; dropped: number } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(source, `not JSON: ${(e as Error).message}`);
  }
  const d = doc as Partial<AuthorsJson>;
  if (!d || !Array.isArray(d.target_items)) throw invalidArgument(`${source}.target_items`, 'missing array');
  if (!d.fake_users || typeof d.fake_users !== 'object') throw invalidArgument(`${source}.fake_users`, 'missing object');
  const id = (v: unknown, field: string): number => {
    const n = Number(v);
    if ((typeof v !== 'string' && typeof v !== 'number') || !Number.isInteger(n) || n < 0) throw invalidArgument(field, `not an item id: ${JSON.stringify(v)}`);
    return n;
  };
  const targets = d.target_items.map((v, i) => id(v, `${source}.target_items[${i}]`));
  const profiles: Profile[] = [];
  let dropped = 0;
  for (const [name, items] of Object.entries(d.fake_users)) {
    if (!Array.isArray(items)) throw invalidArgument(`${source}.fake_users.${name}`, 'not an array');
    const ids = [...new Set(items.map((v, i) => id(v, `${source}.fake_users.${name}[${i}]`)))].sort((a, b) => a - b);
    if (ids.length < minLength) dropped++;
    else profiles.push({ name, items: ids });
  }
  return { targets, profiles, dropped };
}
