import { openDatabase, type Db } from '@robustrec/store';

/** An external generator registered by address, persisted in <home>/attack/attack.db. */
export interface ExternalGenerator {
  /** What its Describe answered (externalSpec turns it into a parameter schema). */
  name: string;
  description: string;
  defaultParams: Record<string, number>;
  defaultOptions: Record<string, string>;
  address: string;
  registeredAt: string;
  /** May read every split of the datasets it attacks (default false: black-box, training split only). */
  whiteBox: boolean;
}

const MIGRATIONS = [
  `CREATE TABLE generators (
     name TEXT PRIMARY KEY,
     address TEXT NOT NULL,
     description TEXT NOT NULL,
     default_params TEXT NOT NULL,
     default_options TEXT NOT NULL,
     registered_at TEXT NOT NULL
   );`,
  `ALTER TABLE generators ADD COLUMN white_box INTEGER NOT NULL DEFAULT 0;`,
];

interface Row {
  name: string;
  address: string;
  description: string;
  default_params: string;
  default_options: string;
  registered_at: string;
  white_box: number;
}

export class GeneratorRegistry {
  private readonly db: Db;

  constructor(path: string) {
    this.db = openDatabase(path, MIGRATIONS);
  }

  list(): ExternalGenerator[] {
    return (this.db.prepare('SELECT * FROM generators ORDER BY name').all() as Row[]).map(fromRow);
  }

  get(name: string): ExternalGenerator | undefined {
    const r = this.db.prepare('SELECT * FROM generators WHERE name = ?').get(name) as Row | undefined;
    return r && fromRow(r);
  }

  /** Inserts or replaces (re-registering a name updates its address and description). */
  put(g: ExternalGenerator): void {
    this.db
      .prepare('INSERT OR REPLACE INTO generators (name, address, description, default_params, default_options, registered_at, white_box) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(g.name, g.address, g.description, JSON.stringify(g.defaultParams), JSON.stringify(g.defaultOptions), g.registeredAt, g.whiteBox ? 1 : 0);
  }

  remove(name: string): boolean {
    return this.db.prepare('DELETE FROM generators WHERE name = ?').run(name).changes > 0;
  }

  close(): void {
    this.db.close();
  }
}

const fromRow = (r: Row): ExternalGenerator => ({
  name: r.name,
  address: r.address,
  description: r.description,
  defaultParams: JSON.parse(r.default_params) as Record<string, number>,
  defaultOptions: JSON.parse(r.default_options) as Record<string, string>,
  registeredAt: r.registered_at,
  whiteBox: r.white_box === 1,
});
