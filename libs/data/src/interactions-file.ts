import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { checkNumber, invalidArgument, notFound, Rng } from '@robustrec/core';
import { kCoreMask } from './kcore';
import { splitPerUser } from './split';
import type { ParsedSplits } from './lightgcn';

export interface InteractionFileOptions {
  /** Field delimiter; empty/undefined auto-detects among tab, ",", ";", " ". */
  delimiter?: string;
  hasHeader?: boolean;
  /** Column of the user id: header name or 0-based index as a string (default "0"). */
  userColumn?: string;
  itemColumn?: string;
  timestampColumn?: string;
  ratingColumn?: string;
  /** Interactions rated below this are dropped (only with a rating column). */
  minRating?: number;
  /** Iterated k-core thresholds (default 10 each; 0 disables). */
  userCore?: number;
  itemCore?: number;
  testRatio?: number;
  validRatio?: number;
  /** Seed of the random split when there are no timestamps (default 2024). */
  seed?: number;
}

export interface ImportedInteractions extends ParsedSplits {
  /** Original id of each internal user / item id (index = internal id). */
  userIds: string[];
  itemIds: string[];
  chronological: boolean;
  /** Lines read (excluding header and blank lines), kept after rating filter, after dedupe, after k-core. */
  counts: { lines: number; rated: number; unique: number; core: number };
}

/** Splits one line; double-quoted fields ("" escapes a quote) are supported for , and ;. */
function splitFields(line: string, delim: string): string[] {
  if (delim === ' ') return line.trim().split(/\s+/);
  if (!line.includes('"')) return line.split(delim);
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let k = 0; k < line.length; k++) {
    const c = line[k]!;
    if (quoted) {
      if (c === '"' && line[k + 1] === '"') {
        cur += '"';
        k++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === delim) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw new Error('unterminated quoted field');
  out.push(cur);
  return out;
}

function detectDelimiter(line: string): string {
  for (const d of ['\t', ',', ';']) if (line.includes(d)) return d;
  return ' ';
}

/** Sorts original ids numerically when all are canonical integers, else as strings, so ids do not depend on row order. */
function sortedIds(ids: Iterable<string>): string[] {
  const all = [...ids];
  if (all.every((s) => /^(0|[1-9]\d{0,14})$/.test(s))) return all.sort((a, b) => Number(a) - Number(b));
  return all.sort();
}

function parseTime(s: string): number {
  const t = s.trim();
  if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  const d = Date.parse(t);
  return Number.isNaN(d) ? NaN : d / 1000;
}

/**
 * Imports a generic interaction file (CSV/TSV, one interaction per line): parses it,
 * drops low ratings and duplicate (user, item) pairs (keeping the earliest), applies the
 * iterated k-core, remaps ids to 0..n-1 (recording the originals) and splits per user
 * 80/20 train/test with 10% of training held out for validation (chronological when a
 * timestamp column is given, otherwise seeded random).
 */
export function importInteractionFile(path: string, opts: InteractionFileOptions = {}, label = basename(path)): ImportedInteractions {
  if (!existsSync(path) || !statSync(path).isFile()) throw notFound('file', path);
  const userCore = checkNumber('user_core', opts.userCore ?? 10, 0, 1e9, true);
  const itemCore = checkNumber('item_core', opts.itemCore ?? 10, 0, 1e9, true);
  const testRatio = checkNumber('test_ratio', opts.testRatio ?? 0.2, 0, 0.99);
  const validRatio = checkNumber('valid_ratio', opts.validRatio ?? 0.1, 0, 0.99);
  const seed = checkNumber('seed', opts.seed ?? 2024, 0, Number.MAX_SAFE_INTEGER, true);
  const minRating = checkNumber('min_rating', opts.minRating ?? 0);
  if (opts.delimiter && ![',', '\t', ';', ' ', '|'].includes(opts.delimiter))
    throw invalidArgument('delimiter', `unsupported delimiter ${JSON.stringify(opts.delimiter)} (use ",", "\\t", ";", "|" or " ")`);

  const text = readFileSync(path, 'utf8');
  const lines = text.split(/\r?\n/);
  let first = 0;
  while (first < lines.length && lines[first]!.trim() === '') first++;
  if (first === lines.length) throw invalidArgument(label, 'file is empty');
  const delim = opts.delimiter || detectDelimiter(lines[first]!);
  const header = opts.hasHeader ? splitFields(lines[first]!, delim).map((h) => h.trim()) : undefined;

  const column = (field: string, spec: string | undefined, dflt: string | undefined): number => {
    const s = (spec ?? '').trim() || dflt;
    if (s === undefined) return -1;
    if (/^\d+$/.test(s)) return Number(s);
    if (!header) throw invalidArgument(field, `column "${s}" given by name but has_header is false`);
    const k = header.indexOf(s);
    if (k < 0) throw invalidArgument(field, `no column "${s}" in the header of ${label} (${header.join(', ')})`);
    return k;
  };
  const uCol = column('user_column', opts.userColumn, '0');
  const iCol = column('item_column', opts.itemColumn, '1');
  const tCol = column('timestamp_column', opts.timestampColumn, undefined);
  const rCol = column('rating_column', opts.ratingColumn, undefined);
  const needed = Math.max(uCol, iCol, tCol, rCol) + 1;

  // parse: original ids -> provisional indices in order of appearance
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const us: number[] = [];
  const is: number[] = [];
  const ts: number[] = [];
  let linesRead = 0;
  for (let ln = header ? first + 1 : first; ln < lines.length; ln++) {
    const raw = lines[ln]!;
    if (raw.trim() === '') continue;
    const where = `${label}:${ln + 1}`;
    let f: string[];
    try {
      f = splitFields(raw, delim);
    } catch (e) {
      throw invalidArgument(where, (e as Error).message);
    }
    linesRead++;
    if (f.length < needed) throw invalidArgument(where, `expected at least ${needed} fields separated by ${JSON.stringify(delim)}, got ${f.length}`);
    const user = f[uCol]!.trim();
    const item = f[iCol]!.trim();
    if (user === '') throw invalidArgument(where, 'empty user id');
    if (item === '') throw invalidArgument(where, 'empty item id');
    let t = 0;
    if (tCol >= 0) {
      t = parseTime(f[tCol]!);
      if (Number.isNaN(t)) throw invalidArgument(where, `timestamp is not a number or date: ${JSON.stringify(f[tCol])}`);
    }
    if (rCol >= 0) {
      const r = Number(f[rCol]!.trim());
      if (f[rCol]!.trim() === '' || !Number.isFinite(r)) throw invalidArgument(where, `rating is not a number: ${JSON.stringify(f[rCol])}`);
      if (r < minRating) continue;
    }
    let u = userIndex.get(user);
    if (u === undefined) userIndex.set(user, (u = userIndex.size));
    let i = itemIndex.get(item);
    if (i === undefined) itemIndex.set(item, (i = itemIndex.size));
    us.push(u);
    is.push(i);
    ts.push(t);
  }
  const rated = us.length;

  // dedupe (user, item), keeping the earliest (then first-listed) occurrence
  const order = Array.from({ length: rated }, (_, k) => k).sort((a, b) => us[a]! - us[b]! || is[a]! - is[b]! || ts[a]! - ts[b]! || a - b);
  const keep: number[] = [];
  for (let k = 0; k < order.length; k++) {
    const c = order[k]!;
    const p = order[k - 1];
    if (p === undefined || us[p] !== us[c] || is[p] !== is[c]) keep.push(c);
  }
  const du = Uint32Array.from(keep, (k) => us[k]!);
  const di = Uint32Array.from(keep, (k) => is[k]!);
  const dt = Float64Array.from(keep, (k) => ts[k]!);
  const dline = Uint32Array.from(keep);

  const alive = kCoreMask(du, di, userIndex.size, itemIndex.size, userCore, itemCore);
  const coreCount = alive.reduce((s, a) => s + a, 0);
  if (coreCount === 0)
    throw invalidArgument('user_core', `no interactions of ${label} survive the ${userCore}/${itemCore}-core filter (${keep.length} unique interactions)`);

  // remap surviving ids to 0..n-1 in sorted original-id order
  const userNames = [...userIndex.keys()];
  const itemNames = [...itemIndex.keys()];
  const liveUsers = new Set<number>();
  const liveItems = new Set<number>();
  for (let k = 0; k < alive.length; k++)
    if (alive[k]) {
      liveUsers.add(du[k]!);
      liveItems.add(di[k]!);
    }
  const userIds = sortedIds([...liveUsers].map((u) => userNames[u]!));
  const itemIds = sortedIds([...liveItems].map((i) => itemNames[i]!));
  const newUser = new Map(userIds.map((s, k) => [userIndex.get(s)!, k]));
  const newItem = new Map(itemIds.map((s, k) => [itemIndex.get(s)!, k]));

  // per-user lists, oldest first when chronological (ties: file order)
  const chronological = tCol >= 0;
  const rows: Array<Array<[number, number, number]>> = userIds.map(() => []);
  for (let k = 0; k < alive.length; k++) if (alive[k]) rows[newUser.get(du[k]!)!]!.push([newItem.get(di[k]!)!, dt[k]!, dline[k]!]);
  const perUser = rows.map((r) => {
    if (chronological) r.sort((a, b) => a[1] - b[1] || a[2] - b[2]);
    return r.map((x) => x[0]);
  });
  const splits = splitPerUser(perUser, itemIds.length, { testRatio, validRatio }, chronological ? undefined : new Rng(seed).fork('split'));
  return {
    numUsers: userIds.length,
    numItems: itemIds.length,
    ...splits,
    userIds,
    itemIds,
    chronological,
    counts: { lines: linesRead, rated, unique: keep.length, core: coreCount },
  };
}
