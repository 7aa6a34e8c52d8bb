import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import { CsvError, parse } from 'csv-parse';
import { basename } from 'node:path';
import { checkNumber, invalidArgument, notFound, Rng } from '@robustrec/core';
import { kCoreMask } from './kcore';
import { splitPerUser } from './split';
import type { ParsedSplits } from './lightgcn';
import { distinctPairs, F64Column, IdIndex, U32Column } from './columns';

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

/** The first non-blank line of a file, read from its first 64 KiB (to detect the delimiter). */
function firstLine(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('utf8', 0, n).split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  } finally {
    closeSync(fd);
  }
}

/** A record the importer refuses, by its 0-based index among the file's records. */
class BadRecord extends Error {
  constructor(
    readonly record: number,
    message: string,
  ) {
    super(message);
  }
}

/** The line a record ends on: re-reads the records, with line info, up to that one. */
async function lineOf(records: AsyncIterable<{ info: { lines: number } }> & { destroy(): void }, index: number): Promise<number | string> {
  let k = 0;
  try {
    for await (const r of records) if (k++ === index) return r.info.lines;
  } finally {
    records.destroy();
  }
  return '?';
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
 *
 * Memory (columns.ts): the parsed ids go into typed columns (4 bytes each, 8 for a
 * timestamp); original ids are numbered by an `IdIndex` (integer ids in a typed hash table,
 * others in a Map, distinct ids only); dedupe is a counting sort into user runs that reuses
 * the columns' buffers (`distinctPairs`): ~12 bytes per interaction at its peak,
 * O(N + users + items) apart from per-user sorts. (It was JS number arrays, Maps of strings,
 * an N log N comparator sort and one tuple array per interaction: 20.7x its data at 20M.)
 */
export async function importInteractionFile(path: string, opts: InteractionFileOptions = {}, label = basename(path)): Promise<ImportedInteractions> {
  if (!existsSync(path) || !statSync(path).isFile()) throw notFound('file', label);
  const userCore = checkNumber('user_core', opts.userCore ?? 10, 0, 1e9, true);
  const itemCore = checkNumber('item_core', opts.itemCore ?? 10, 0, 1e9, true);
  const testRatio = checkNumber('test_ratio', opts.testRatio ?? 0.2, 0, 0.99);
  const validRatio = checkNumber('valid_ratio', opts.validRatio ?? 0.1, 0, 0.99);
  const seed = checkNumber('seed', opts.seed ?? 2024, 0, Number.MAX_SAFE_INTEGER, true);
  const minRating = checkNumber('min_rating', opts.minRating ?? 0);
  if (opts.delimiter && ![',', '\t', ';', ' ', '|'].includes(opts.delimiter))
    throw invalidArgument('delimiter', `unsupported delimiter ${JSON.stringify(opts.delimiter)} (use ",", "\\t", ";", "|" or " ")`);
  const first = firstLine(path);
  if (first === '') throw invalidArgument(label, 'file is empty');
  const delim = opts.delimiter || detectDelimiter(first);
  const spaces = delim === ' ';

  let header: string[] | undefined;
  const column = (field: string, spec: string | undefined, dflt: string | undefined): number => {
    const s = (spec ?? '').trim() || dflt;
    if (s === undefined) return -1;
    if (/^\d+$/.test(s)) return Number(s);
    if (!header) throw invalidArgument(field, `column "${s}" given by name but has_header is false`);
    const k = header.indexOf(s);
    if (k < 0) throw invalidArgument(field, `no column "${s}" in the header of ${label} (${header.join(', ')})`);
    return k;
  };
  let uCol = 0, iCol = 1, tCol = -1, rCol = -1, needed = 2;
  const resolveColumns = (): void => {
    uCol = column('user_column', opts.userColumn, '0');
    iCol = column('item_column', opts.itemColumn, '1');
    tCol = column('timestamp_column', opts.timestampColumn, undefined);
    rCol = column('rating_column', opts.ratingColumn, undefined);
    needed = Math.max(uCol, iCol, tCol, rCol) + 1;
  };
  if (!opts.hasHeader) resolveColumns();

  // parse, streaming (the file is never held whole): original ids -> provisional indices in
  // order of appearance. csv-parse handles quoting ("" escapes a quote) and CRLF; a space
  // delimiter means runs of whitespace. Records carry no line info (it triples the parse
  // time); an error finds its line by re-reading the file up to the bad record (lineOf).
  const csv = (info: boolean) =>
    createReadStream(path).pipe(
      parse({ delimiter: spaces ? [' ', '\t'] : delim, quote: spaces ? false : '"', relax_column_count: true, relax_quotes: true, skip_empty_lines: true, bom: true, info }),
    );
  const parser = csv(false);
  const userIndex = new IdIndex();
  const itemIndex = new IdIndex();
  // the parsed columns: provisional user / item index and timestamp (only with a timestamp
  // column) per kept line, typed (4 / 8 bytes a value)
  const us = new U32Column();
  const is = new U32Column();
  const ts = new F64Column();
  let linesRead = 0;
  let recordNo = -1;
  const bad = (message: string): never => {
    throw new BadRecord(recordNo, message);
  };
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      recordNo++;
      const f = spaces ? record.filter((x) => x !== '') : record;
      if (f.every((x) => x.trim() === '')) continue;
      if (opts.hasHeader && !header) {
        header = f.map((h) => h.trim());
        resolveColumns();
        continue;
      }
      linesRead++;
      if (f.length < needed) bad(`expected at least ${needed} fields separated by ${JSON.stringify(delim)}, got ${f.length}`);
      const user = f[uCol]!.trim();
      const item = f[iCol]!.trim();
      if (user === '') bad('empty user id');
      if (item === '') bad('empty item id');
      let t = 0;
      if (tCol >= 0) {
        t = parseTime(f[tCol]!);
        if (Number.isNaN(t)) bad(`timestamp is not a number or date: ${JSON.stringify(f[tCol]!.slice(0, 40))}`);
      }
      if (rCol >= 0) {
        const r = Number(f[rCol]!.trim());
        if (f[rCol]!.trim() === '' || !Number.isFinite(r)) bad(`rating is not a number: ${JSON.stringify(f[rCol]!.slice(0, 40))}`);
        if (r < minRating) continue;
      }
      us.push(userIndex.indexOf(user));
      is.push(itemIndex.indexOf(item));
      if (tCol >= 0) ts.push(t);
    }
  } catch (e) {
    if (e instanceof BadRecord) throw invalidArgument(`${label}:${await lineOf(csv(true), e.record)}`, e.message);
    // a malformed file names its line, not its content
    if (e instanceof CsvError) throw invalidArgument(`${label}:${(e as CsvError & { lines?: number }).lines ?? '?'}`, `malformed ${delim === ',' ? 'CSV' : 'delimited'} line (${e.code})`);
    throw e;
  } finally {
    parser.destroy();
  }
  const rated = us.length;
  const chronological = tCol >= 0;
  const r = userRows(us, is, chronological ? ts : undefined, userIndex, itemIndex, userCore, itemCore, label);
  const splits = splitPerUser(r.rows, r.itemIds.length, { testRatio, validRatio }, chronological ? undefined : new Rng(seed).fork('split'));
  return {
    numUsers: r.userIds.length,
    numItems: r.itemIds.length,
    ...splits,
    userIds: r.userIds,
    itemIds: r.itemIds,
    chronological,
    counts: { lines: linesRead, rated, unique: r.unique, core: r.core },
  };
}

/**
 * From the parsed columns to each user's items: drops duplicate (user, item) pairs keeping
 * the earliest (then first-listed) occurrence, applies the k-core, remaps the surviving ids
 * to 0..n-1 in sorted original-id order and lists each user's items (oldest first with
 * timestamps, ties in file order; otherwise in order of the items' first appearance).
 * O(N + users + items) apart from the per-user sorts by time; the rows are views of one
 * Uint32Array. Consumes the columns and the id indexes (cleared, so that their memory can go
 * before the split).
 */
function userRows(
  us: U32Column,
  is: U32Column,
  ts: F64Column | undefined,
  userIndex: IdIndex,
  itemIndex: IdIndex,
  userCore: number,
  itemCore: number,
  label: string,
): { rows: Uint32Array[]; userIds: string[]; itemIds: string[]; unique: number; core: number } {
  const numProvUsers = userIndex.size;
  const numProvItems = itemIndex.size;
  const times = ts?.view();
  // dedupe (user, item) by counting sort, the result in the columns' own buffers
  const { users: du, items: di, index: dline } = distinctPairs(us.view(), is.view(), numProvUsers, numProvItems, times);
  us.clear();
  is.clear();
  const unique = du.length;

  const alive = kCoreMask(du, di, numProvUsers, numProvItems, userCore, itemCore);
  let core = 0;
  for (let k = 0; k < unique; k++) core += alive[k]!;
  if (core === 0) throw invalidArgument('user_core', `no interactions of ${label} survive the ${userCore}/${itemCore}-core filter (${unique} unique interactions)`);

  // remap surviving ids to 0..n-1 in sorted original-id order
  const liveUser = new Uint8Array(numProvUsers);
  const liveItem = new Uint8Array(numProvItems);
  for (let k = 0; k < unique; k++)
    if (alive[k]) {
      liveUser[du[k]!] = 1;
      liveItem[di[k]!] = 1;
    }
  const userIds = sortedIds(userIndex.names(liveUser));
  const itemIds = sortedIds(itemIndex.names(liveItem));
  const newUser = new Uint32Array(numProvUsers);
  const newItem = new Uint32Array(numProvItems);
  for (let k = 0; k < userIds.length; k++) newUser[userIndex.get(userIds[k]!)!] = k;
  for (let k = 0; k < itemIds.length; k++) newItem[itemIndex.get(itemIds[k]!)!] = k;
  userIndex.clear();
  itemIndex.clear();

  // per-user rows (CSR) by a stable counting sort on the new user id: within a row the pairs
  // keep their (provisional item) order; with timestamps each row is then sorted by
  // (time, line)
  const numUsers = userIds.length;
  const indptr = new Uint32Array(numUsers + 1);
  for (let k = 0; k < unique; k++) if (alive[k]) indptr[newUser[du[k]!]! + 1]!++;
  for (let u = 0; u < numUsers; u++) indptr[u + 1]! += indptr[u]!;
  const fill = indptr.slice(0, numUsers);
  const cells = new Uint32Array(core);
  if (!times) {
    for (let k = 0; k < unique; k++) if (alive[k]) cells[fill[newUser[du[k]!]!]!++] = newItem[di[k]!]!;
  } else {
    for (let k = 0; k < unique; k++) if (alive[k]) cells[fill[newUser[du[k]!]!]!++] = k;
    const byTime = (a: number, b: number): number => times[dline[a]!]! - times[dline[b]!]! || dline[a]! - dline[b]!;
    for (let u = 0; u < numUsers; u++) if (indptr[u + 1]! - indptr[u]! > 1) cells.subarray(indptr[u]!, indptr[u + 1]!).sort(byTime);
    for (let p = 0; p < core; p++) cells[p] = newItem[di[cells[p]!]!]!;
    ts!.clear();
  }
  const rows = Array.from({ length: numUsers }, (_, u) => cells.subarray(indptr[u]!, indptr[u + 1]!));
  return { rows, userIds, itemIds, unique, core };
}
