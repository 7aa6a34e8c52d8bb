/**
 * The CSV importer as it was before typed columns and counting-sort dedupe (commit 2da1aec,
 * libs/data/src/interactions-file.ts), kept verbatim apart from its imports and name as the
 * reference the new one must equal (interactions-columns.test.ts).
 */
import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import { CsvError, parse } from 'csv-parse';
import { basename } from 'node:path';
import { checkNumber, invalidArgument, notFound, Rng } from '@robustrec/core';
import { kCoreMask } from '../src/kcore';
import { splitPerUser } from '../src/split';
import type { ImportedInteractions, InteractionFileOptions } from '../src/interactions-file';

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
 */
export async function importInteractionFileReference(path: string, opts: InteractionFileOptions = {}, label = basename(path)): Promise<ImportedInteractions> {
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
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const us: number[] = [];
  const is: number[] = [];
  const ts: number[] = [];
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
      let u = userIndex.get(user);
      if (u === undefined) userIndex.set(user, (u = userIndex.size));
      let i = itemIndex.get(item);
      if (i === undefined) itemIndex.set(item, (i = itemIndex.size));
      us.push(u);
      is.push(i);
      ts.push(t);
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
