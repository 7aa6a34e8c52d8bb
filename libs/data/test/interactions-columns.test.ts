import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gowallaDir, Rng } from '@robustrec/core';
import { importInteractionFile, type ImportedInteractions, type InteractionFileOptions } from '../src';
import { canonicalInt, distinctPairs, F64Column, IdIndex, U32Column } from '../src/columns';
import { importInteractionFileReference } from './interactions-reference';
import { scratch } from './helpers';

const tmp = scratch('rr-columns-');
const pick = <T,>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;
afterAll(() => tmp.cleanup());

describe('typed columns', () => {
  it('grow past their capacity and keep every value', () => {
    const u = new U32Column(1);
    const f = new F64Column(1);
    for (let k = 0; k < 5000; k++) (u.push(k * 7), f.push(k / 3));
    expect(u.length).toBe(5000);
    expect(Array.from(u.view())).toEqual(Array.from({ length: 5000 }, (_, k) => k * 7));
    expect(Array.from(f.view())).toEqual(Array.from({ length: 5000 }, (_, k) => k / 3));
    const kept = u.view();
    u.clear();
    expect(u.length).toBe(0);
    expect(kept[4999]).toBe(4999 * 7); // a view taken before clear keeps its values
  });

  it('canonicalInt: exactly the ids that String(Number(id)) writes back, up to 15 digits', () => {
    for (const s of ['0', '7', '10', '999999999999999', '4294967296', '123456789012345']) expect(canonicalInt(s), s).toBe(Number(s));
    for (const s of ['', '00', '007', '-1', '+1', '1e3', '1.0', ' 1', '1 ', '0x10', '1234567890123456', 'abc', '１']) expect(canonicalInt(s), s).toBe(-1);
  });

  it('IdIndex numbers ids in order of first appearance like a Map, integer and string ids mixed', () => {
    const rng = new Rng(5);
    const idx = new IdIndex();
    const ref = new Map<string, number>();
    const odd = ['007', '-3', '1e3', 'x', '1.5', '1234567890123456', '00', ''];
    for (let k = 0; k < 60_000; k++) {
      const r = rng.next();
      const id = r < 0.6 ? String(rng.int(20_000)) : r < 0.7 ? String(1e14 + rng.int(1000) * 4294967296) : r < 0.9 ? `s${rng.int(3000)}` : pick(rng, odd);
      let want = ref.get(id);
      if (want === undefined) ref.set(id, (want = ref.size));
      expect(idx.indexOf(id)).toBe(want);
    }
    expect(idx.size).toBe(ref.size);
    const live = Uint8Array.from({ length: ref.size }, () => (rng.int(3) ? 1 : 0));
    expect(idx.names(live)).toEqual([...ref.keys()].filter((_, k) => live[k]));
    for (const [id, k] of ref) expect(idx.get(id)).toBe(k);
    expect(idx.get('999999')).toBeUndefined();
    expect(idx.get('nope')).toBeUndefined();
  });

  it('distinctPairs equals sorting by (user, item, time, index) and keeping each pair first', () => {
    const rng = new Rng(11);
    for (let t = 0; t < 200; t++) {
      const nu = 1 + rng.int(20), ni = 1 + rng.int(20), n = rng.int(300);
      const us = Array.from({ length: n }, () => rng.int(nu));
      const is = Array.from({ length: n }, () => rng.int(ni));
      const ts = t % 2 ? Array.from({ length: n }, () => rng.int(4)) : undefined; // small range: ties
      const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => us[a]! - us[b]! || is[a]! - is[b]! || (ts ? ts[a]! - ts[b]! : 0) || a - b);
      const keep = order.filter((c, k) => k === 0 || us[order[k - 1]!] !== us[c] || is[order[k - 1]!] !== is[c]);
      const d = distinctPairs(Uint32Array.from(us), Uint32Array.from(is), nu, ni, ts && Float64Array.from(ts));
      expect(Array.from(d.index), `case ${t}`).toEqual(keep);
      expect(Array.from(d.users)).toEqual(keep.map((k) => us[k]));
      expect(Array.from(d.items)).toEqual(keep.map((k) => is[k]));
    }
  });
});

/** Everything the importer returns, as plain data. */
const plain = (r: ImportedInteractions): unknown => ({
  ...r,
  train: { ...r.train, indptr: Array.from(r.train.indptr), indices: Array.from(r.train.indices) },
  valid: { ...r.valid, indptr: Array.from(r.valid.indptr), indices: Array.from(r.valid.indices) },
  test: { ...r.test, indptr: Array.from(r.test.indptr), indices: Array.from(r.test.indices) },
});

async function both(path: string, opts: InteractionFileOptions): Promise<{ now: unknown; before: unknown }> {
  const settle = (p: Promise<ImportedInteractions>): Promise<unknown> => p.then(plain, (e: Error & { code?: string }) => ({ error: e.message, code: e.code }));
  return { now: await settle(importInteractionFile(path, opts)), before: await settle(importInteractionFileReference(path, opts)) };
}

interface Variant {
  name: string;
  delim: string;
  header?: string;
  opts: InteractionFileOptions;
  /** One random line's fields (before padding and joining). */
  fields(rng: Rng): string[];
}

const VARIANTS: Variant[] = [
  {
    name: 'comma, no header, numeric ids, no cores',
    delim: ',',
    opts: { userCore: 0, itemCore: 0 },
    fields: (rng) => [String(rng.int(120)), String(Math.floor(150 * rng.next() ** 2))],
  },
  {
    name: 'comma, no header, numeric ids, 3/3-core, seed 5',
    delim: ',',
    opts: { userCore: 3, itemCore: 3, seed: 5 },
    fields: (rng) => [String(rng.int(80)), String(Math.floor(100 * rng.next() ** 2))],
  },
  {
    name: 'tab, header, string ids, timestamps with ties, rating filter, 2/2-core',
    delim: '\t',
    header: 'item\tts\tuser\trating',
    opts: { hasHeader: true, userColumn: 'user', itemColumn: 'item', timestampColumn: 'ts', ratingColumn: 'rating', minRating: 2, userCore: 2, itemCore: 2 },
    fields: (rng) => [`i${Math.floor(90 * rng.next() ** 2)}`, String(1000 + rng.int(30)), `user-${rng.int(60)}`, String(rng.int(6))],
  },
  {
    name: 'space-separated, ISO dates, mixed ids, no cores, 30% test',
    delim: ' ',
    opts: { timestampColumn: '2', userCore: 0, itemCore: 0, testRatio: 0.3, validRatio: 0.2 },
    fields: (rng) => [rng.int(3) ? String(rng.int(50)) : `x${rng.int(20)}`, String(rng.int(70)), `2024-0${1 + rng.int(3)}-1${rng.int(10)}T00:00:00Z`],
  },
  {
    name: 'comma, ids that look numeric but are not canonical (leading zeros, signs, exponents, 16 digits), 2/2-core',
    delim: ',',
    opts: { userCore: 2, itemCore: 2 },
    fields: (rng) => [
      pick(rng, [String(rng.int(40)), `0${rng.int(40)}`, `-${rng.int(5)}`, `${rng.int(3)}e2`, String(1e15 + rng.int(30)), String(1e14 + rng.int(30))]),
      pick(rng, [String(rng.int(60)), String(rng.int(60)), `00${rng.int(9)}`, `${rng.int(9)}.0`]),
    ],
  },
  {
    name: 'semicolon, quoted ids, index columns in another order',
    delim: ';',
    opts: { userColumn: '1', itemColumn: '0', userCore: 0, itemCore: 0 },
    fields: (rng) => [`"it;${rng.int(60)}"`, rng.int(2) ? `"${rng.int(40)}"` : String(rng.int(40)), 'extra'],
  },
];

/** `n` random lines: duplicates (small id pools), blank lines, padding. */
function randomFile(v: Variant, rng: Rng, n: number): string[] {
  const lines: string[] = v.header ? [v.header] : [];
  const pad = (s: string): string => (v.delim === ' ' ? pick(rng, ['', ' ', '  ', '\t']) : pick(rng, ['', '', '', ' ', '  '])) + s + (v.delim === ' ' ? '' : pick(rng, ['', '', ' ']));
  for (let k = 0; k < n; k++) {
    const r = rng.next();
    if (r < 0.04) lines.push(pick(rng, ['', '   ', v.delim === ' ' ? '' : '\t ']));
    else if (r < 0.1 && lines.length > 1) lines.push(lines[1 + rng.int(lines.length - 1)]!); // an exact duplicate line
    else lines.push(v.fields(rng).map(pad).join(v.delim));
  }
  return lines;
}

describe('importInteractionFile equals the importer before typed columns', () => {
  for (const [vi, v] of VARIANTS.entries())
    it(`random files: ${v.name}`, async () => {
      const rng = new Rng(100 + vi);
      for (let t = 0; t < 4; t++) {
        const lines = randomFile(v, rng, 1000 + rng.int(3000));
        const eol = t === 1 ? '\r\n' : '\n'; // csv-parse takes the first line's ending for all
        const p = tmp.write(`v${vi}-${t}.txt`, lines.join(eol) + (t % 2 ? eol : ''));
        const { now, before } = await both(p, { ...v.opts, delimiter: t === 3 ? '' : v.delim });
        expect(now, `${v.name}, file ${t}`).toEqual(before);
        expect(now).not.toHaveProperty('error');
        const c = (now as ImportedInteractions).counts;
        expect(c.rated).toBeGreaterThan(c.unique); // the files do have duplicates
      }
    });

  it('the k-core leaving nothing: the same error', async () => {
    const p = tmp.write('sparse.csv', Array.from({ length: 500 }, (_, k) => `${k},${k % 7}`).join('\n'));
    const { now, before } = await both(p, {});
    expect(now).toEqual(before);
    expect(now).toMatchObject({ code: 'INVALID_ARGUMENT', error: expect.stringMatching(/^user_core: no interactions of sparse\.csv survive the 10\/10-core filter \(500 unique/) });
  });

  it('bad lines: the same INVALID_ARGUMENT naming file:line', async () => {
    const rng = new Rng(3);
    const v = VARIANTS[2]!;
    const bads = ['u1\t5', 'i1\t5\t\t3', 'i1\tsoon\tu1\t3', 'i1\t5\tu1\tlots', 'i1\t5\tu1\t', '\t5\tu1\t3'];
    for (const [b, badLine] of bads.entries()) {
      const lines = randomFile(v, rng, 2000);
      const at = 1 + rng.int(lines.length - 1); // after the header
      lines.splice(at, 0, badLine);
      const p = tmp.write(`bad-${b}.tsv`, lines.join('\n'));
      const { now, before } = await both(p, v.opts);
      expect(now, badLine).toEqual(before);
      expect((now as { error: string }).error.startsWith(`bad-${b}.tsv:${at + 1}: `), `${badLine}: ${(now as { error: string }).error}`).toBe(true);
      expect(now).toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    // an unterminated quote is csv-parse's own error, with its line
    const q = tmp.write('quote.csv', '1,2\n3,4\n5,"6\n7,8\n');
    const { now, before } = await both(q, { userCore: 0, itemCore: 0 });
    expect(now).toEqual(before);
    expect(now).toMatchObject({ code: 'INVALID_ARGUMENT', error: expect.stringMatching(/^quote\.csv:\d+: malformed CSV line/) });
  });

  it.skipIf(!gowallaDir())('a slice of Gowalla as user,item lines (shuffled, some repeated): equal with 10/10-core and without', async () => {
    const rng = new Rng(2024);
    const lines: string[] = [];
    for (const file of ['train.txt', 'test.txt']) {
      const text = readFileSync(join(gowallaDir()!, file), 'utf8');
      for (const line of text.split('\n').slice(0, 1500)) {
        const [u, ...items] = line.trim().split(' ');
        for (const i of items) if (i !== '') lines.push(`${u},${i}`);
      }
    }
    for (let k = 0; k < 2000; k++) lines.push(lines[rng.int(lines.length)]!);
    rng.shuffle(lines);
    expect(lines.length).toBeGreaterThan(50_000);
    const p = tmp.write('gowalla-slice.csv', lines.join('\n') + '\n');
    for (const opts of [{}, { userCore: 0, itemCore: 0, seed: 7 }] as InteractionFileOptions[]) {
      const { now, before } = await both(p, opts);
      expect(now).not.toHaveProperty('error');
      expect(now).toEqual(before);
    }
  });
});
