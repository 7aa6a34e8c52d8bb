import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@robustrec/store';
import { GeneratorRegistry } from '../src/registry';

const dir = mkdtempSync(join(tmpdir(), 'rr-attack-registry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const gen = { name: 'g', description: 'd', defaultParams: { pool: 50 }, defaultOptions: {}, address: 'h:1', registeredAt: '2025-01-01T00:00:00Z' };

describe('GeneratorRegistry', () => {
  it('stores white-box registrations, and reads a registry written before white-box existed as black-box', () => {
    const path = join(dir, 'attack.db');
    let reg = new GeneratorRegistry(path);
    reg.put({ ...gen, whiteBox: false });
    reg.close();
    // the registry as the previous version left it: no white_box column, schema version 1
    const db = openDatabase(path, []);
    db.exec('ALTER TABLE generators DROP COLUMN white_box');
    db.pragma('user_version = 1');
    db.close();

    reg = new GeneratorRegistry(path);
    expect(reg.get('g')).toMatchObject({ name: 'g', whiteBox: false });
    reg.put({ ...gen, name: 'w', whiteBox: true });
    expect(reg.list().map((g) => [g.name, g.whiteBox])).toEqual([
      ['g', false],
      ['w', true],
    ]);
    reg.close();
  });
});
