import { createHash } from 'node:crypto';
import { invalidArgument } from '@robustrec/core';

/** One fake user's profile: items as given (the authors' files repeat target items; poisoning dedupes). */
export interface Profile {
  name: string;
  items: number[];
}

/** Fake-user profiles of one attack over a dataset's item-id space. */
export interface ProfileSetContent {
  datasetId: string;
  targetItems: number[];
  profiles: Profile[];
}

const ITEM_ID = /^(0|[1-9]\d{0,9})$/;

/** A value of the document for an error message: JSON, cut short (errors never carry a file's text at length). */
const quote = (v: unknown, max = 32): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
};

function itemId(v: unknown, where: string): number {
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !ITEM_ID.test(s) || Number(s) > 0xfffffffe) throw invalidArgument(where, `not an item id: ${quote(v)}`);
  return Number(s);
}

/**
 * Where JSON.parse failed, as line:column, without V8's message: it quotes the text around
 * the error, and the text may be a file that is not meant to be shown (issue 15: the first
 * line of /etc/passwd came back in the error).
 */
function jsonError(text: string, e: unknown): string {
  const m = /at position (\d+)/.exec(e instanceof Error ? e.message : '');
  if (m) {
    const before = text.slice(0, Number(m[1]));
    return `invalid JSON at ${before.split('\n').length}:${before.length - before.lastIndexOf('\n')}`;
  }
  return /end of JSON input/.test(e instanceof Error ? e.message : '') ? 'invalid JSON: unexpected end of input' : 'invalid JSON: unexpected token';
}

/**
 * Parses the PamaCF authors' profile format
 * `{"target_items": ["id", ...], "fake_users": {"name": ["id", ...]}}` (ids as strings;
 * numbers are accepted too). Profiles shorter than `minLength` items are dropped, as the
 * authors' loader does with 10.
 */
export function parseAuthorsProfiles(json: string, label: string, minLength = 0): { targetItems: number[]; profiles: Profile[]; dropped: number } {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw invalidArgument(label, jsonError(json, e));
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalidArgument(label, 'expected an object with "target_items" and "fake_users"');
  const o = doc as Record<string, unknown>;
  if (!Array.isArray(o.target_items)) throw invalidArgument(`${label}: target_items`, 'must be an array of item ids');
  if (typeof o.fake_users !== 'object' || o.fake_users === null || Array.isArray(o.fake_users))
    throw invalidArgument(`${label}: fake_users`, 'must be an object mapping fake-user names to item-id arrays');
  const targetItems = o.target_items.map((v, k) => itemId(v, `${label}: target_items[${k}]`));
  const profiles: Profile[] = [];
  let dropped = 0;
  for (const [name, items] of Object.entries(o.fake_users as Record<string, unknown>)) {
    const at = `${label}: fake_users.${name.length > 64 ? `${name.slice(0, 64)}…` : name}`;
    if (!Array.isArray(items)) throw invalidArgument(at, 'must be an array of item ids');
    const ids = items.map((v, k) => itemId(v, `${at}[${k}]`));
    if (ids.length < minLength) dropped++;
    else profiles.push({ name, items: ids });
  }
  return { targetItems, profiles, dropped };
}

/** JSON string literal escaped like Python's json.dumps (ensure_ascii), so exports match the authors' files byte for byte. */
function pyString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Writes the authors' format exactly as Python's json.dumps lays it out. */
export function exportAuthorsProfiles(set: { targetItems: ArrayLike<number>; profiles: readonly Profile[] }): string {
  const list = (a: ArrayLike<number>): string => `[${Array.from(a, (v) => `"${v}"`).join(', ')}]`;
  const users = set.profiles.map((p) => `${pyString(p.name)}: ${list(p.items)}`).join(', ');
  return `{"target_items": ${list(set.targetItems)}, "fake_users": {${users}}}`;
}

/**
 * Validates a profile set against the item space [0, numItems): INVALID_ARGUMENT naming
 * the profile and the item. Empty names are filled in as fake_user_<k>.
 */
export function validateProfileSet(set: ProfileSetContent, numItems: number, field = 'profile_set'): ProfileSetContent {
  if (set.targetItems.length === 0) throw invalidArgument(`${field}.target_items`, 'at least one target item is required');
  set.targetItems.forEach((t, k) => {
    if (!Number.isInteger(t) || t < 0 || t >= numItems) throw invalidArgument(`${field}.target_items[${k}]`, `item ${t} is outside the dataset's item range [0, ${numItems})`);
  });
  if (new Set(set.targetItems).size !== set.targetItems.length) throw invalidArgument(`${field}.target_items`, 'duplicate target item');
  if (set.profiles.length === 0) throw invalidArgument(`${field}.profiles`, 'no profiles (after dropping short ones)');
  const names = new Set<string>();
  const profiles = set.profiles.map((p, k) => {
    const name = p.name || `fake_user_${k}`;
    if (names.has(name)) throw invalidArgument(`${field}.profiles[${k}]`, `duplicate profile name ${JSON.stringify(name)}`);
    names.add(name);
    if (p.items.length === 0) throw invalidArgument(`${field}.profiles[${k}] (${name})`, 'profile has no items');
    p.items.forEach((i) => {
      if (!Number.isInteger(i) || i < 0 || i >= numItems)
        throw invalidArgument(`${field}.profiles[${k}] (${name})`, `item ${i} is outside the dataset's item range [0, ${numItems})`);
    });
    return { name, items: [...p.items] };
  });
  return { datasetId: set.datasetId, targetItems: [...set.targetItems], profiles };
}

/** Content address of a profile set: dataset, targets and profiles (not the generator name or provenance). */
export function profileSetIdOf(set: ProfileSetContent): string {
  const h = createHash('sha256');
  h.update(`robustrec-profiles-v1\n${set.datasetId}\n${set.targetItems.join(',')}\n`);
  for (const p of set.profiles) h.update(`${JSON.stringify(p.name)}:${p.items.join(',')}\n`);
  return `ps_${h.digest('hex').slice(0, 24)}`;
}
