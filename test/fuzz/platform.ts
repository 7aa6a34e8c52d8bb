import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { attack, data, evaluator, scoring, trainer } from '@robustrec/contracts';
import { call, callOptions, checkHealth, createClient, iterate } from '@robustrec/grpc';
import { exited, freePort, jobAtEnd, smallTrainConfig, spawnTs, tempDir, waitForOutput } from '../helpers';
import type { Pools } from './schema';

/**
 * The platform under fuzzing: each service as its own OS process (services/<name>/src/main.ts
 * under tsx), real state in a temporary home, a data root with small real files (LightGCN
 * directories for the catalogue, a CSV, a profile-set JSON) and a symlink escaping it to
 * /etc. Setup goes through the ordinary typed clients: it is honest traffic that gives the
 * fuzzer real ids (datasets, a profile set, a trained model, an evaluation).
 */
export interface FuzzPlatform {
  addresses: { data: string; evaluator: string; attack: string; trainer: string };
  procs: Record<string, ReturnType<typeof spawnTs>>;
  pools: Pools;
  home: string;
  root: string;
  /** Processes that exited while they should be running, with their output tail. */
  crashes: string[];
  /** Every SQLite store under the home: PRAGMA integrity_check answers. */
  integrity(): Record<string, string>;
  /** One ordinary request per service (and health per port); name -> "ok" or the error. */
  honest(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** A small LightGCN text dataset ("user item item ..." lines). */
function writeLightGcn(dir: string, users: number, items: number, seed: number): void {
  mkdirSync(dir, { recursive: true });
  let s = seed;
  const rnd = (n: number): number => ((s = (s * 1103515245 + 12345) >>> 0) % n);
  const lines = (k: number): string =>
    Array.from({ length: users }, (_, u) => `${u} ${[...new Set(Array.from({ length: k }, () => rnd(items)))].join(' ')}`).join('\n') + '\n';
  writeFileSync(join(dir, 'train.txt'), lines(8));
  writeFileSync(join(dir, 'test.txt'), lines(2));
}

export async function startFuzzPlatform(opts: { memoryBudget?: string; log?: (s: string) => void } = {}): Promise<FuzzPlatform & { cleanup(): void }> {
  const log = opts.log ?? (() => undefined);
  const tmp = tempDir('rr-fuzz-');
  const home = join(tmp.dir, 'home');
  const root = join(tmp.dir, 'root');
  const datasets = join(root, 'datasets');
  const imports = join(root, 'imports');
  for (const name of ['gowalla', 'yelp2018', 'amazon-book']) writeLightGcn(join(datasets, name), 60, 50, name.length);
  mkdirSync(imports, { recursive: true });
  writeFileSync(join(imports, 'ratings.csv'), 'user,item,rating,ts\n' + Array.from({ length: 400 }, (_, i) => `u${i % 40},i${(i * 7) % 30},${1 + (i % 5)},${i}`).join('\n') + '\n');
  const profileJson = JSON.stringify({ target_items: ['3', '7'], fake_users: Object.fromEntries(Array.from({ length: 5 }, (_, u) => [`f${u}`, ['3', '7', String(10 + u), String(20 + u), String(30 + u)]])) });
  writeFileSync(join(imports, 'profiles.json'), profileJson);
  symlinkSync('/etc', join(imports, 'etc'));
  writeFileSync(join(tmp.dir, 'outside.json'), profileJson);

  const env: Record<string, string> = {
    ROBUSTREC_HOME: home,
    ROBUSTREC_DATA_ROOTS: root,
    ROBUSTREC_DATASETS_DIR: datasets,
    ROBUSTREC_ATTACK_TOKEN: 'fuzz-token',
    ROBUSTREC_MEMORY_BUDGET: opts.memoryBudget ?? '256MiB',
    ROBUSTREC_SERVE_THREADS: '1',
  };
  const port = async (): Promise<string> => `127.0.0.1:${await freePort()}`;
  const addresses = { data: await port(), evaluator: await port(), attack: await port(), trainer: await port() };
  const procs: FuzzPlatform['procs'] = {};
  const crashes: string[] = [];
  let stopping = false;
  const start = async (name: string, entry: string, args: string[]): Promise<void> => {
    const child = spawnTs(entry, args, env);
    procs[name] = child;
    child.once('exit', (code, signal) => {
      if (!stopping) crashes.push(`${name} exited (code ${code}, signal ${signal}):\n${child.output().slice(-4000)}`);
    });
    await waitForOutput(child, (o) => o.includes('listening'), 120_000);
  };
  // the four start in parallel (each spends seconds loading TypeScript)
  await Promise.all([
    start('data', 'services/data/src/main.ts', ['--address', addresses.data, '--home', home]),
    start('evaluator', 'services/evaluator/src/main.ts', ['--address', addresses.evaluator, '--data', addresses.data, '--home', home]),
    start('attack', 'services/attack/src/main.ts', ['--address', addresses.attack, '--data', addresses.data]),
    start('trainer', 'services/trainer/src/main.ts', ['--address', addresses.trainer, '--data', addresses.data, '--registry', addresses.evaluator, '--home', home]),
  ]);
  log(`services up: ${JSON.stringify(addresses)}`);

  // ---- honest setup: real ids for the pools -----------------------------------------------
  const dc = createClient(data.DataServiceClient, addresses.data);
  const synth = (await call(dc, dc.importDataset, { name: 'fuzz-synth', synthetic: { numUsers: 120, numItems: 80, meanInteractions: 10, popularityExponent: 0, clusters: 0, seed: 5 } }, { kind: 'work' })).dataset!;
  const lg = (await call(dc, dc.importDataset, { name: 'fuzz-lightgcn', lightgcn: { directory: join(datasets, 'gowalla'), mergeValidIntoTrain: false } }, { kind: 'work' })).dataset!;
  const ps = (await call(dc, dc.importProfileSet, { datasetId: lg.id, path: join(imports, 'profiles.json'), json: '', minLength: 0, generator: 'fuzz' }, { kind: 'work' })).profileSet!;
  const poisoned = (await call(dc, dc.derivePoisonedDataset, { datasetId: lg.id, profileSetId: ps.id, name: '' }, { kind: 'work' })).dataset!;
  const tc = createClient(trainer.TrainerServiceClient, addresses.trainer);
  const cfg = smallTrainConfig();
  const job = (await call(tc, tc.startJob, { datasetId: synth.id, config: cfg, options: undefined, name: 'fuzz-model', idempotencyKey: 'fuzz-setup' })).job!;
  const last = await jobAtEnd(tc, job);
  if (last.state !== trainer.JobState.JOB_STATE_SUCCEEDED) throw new Error(`setup training failed: ${last.error}`);
  const ec = createClient(evaluator.EvaluatorServiceClient, addresses.evaluator);
  const ev = (await call(ec, ec.evaluate, { model: { id: last.modelId, name: '', version: 0 }, datasetId: '', split: 0, ks: [5], targetItems: [] }, { kind: 'work' })).evaluation!;
  const sc = createClient(scoring.ScoringServiceClient, addresses.evaluator);
  await call(sc, sc.loadModel, { model: { id: last.modelId, name: '', version: 0 } });
  for (const c of [dc, tc, ec, sc]) c.close();
  log(`setup: datasets ${synth.id} ${lg.id} ${poisoned.id}, model ${last.modelId}, job ${job.id}`);

  const pools: Pools = {
    datasets: [synth.id, lg.id, poisoned.id],
    profileSets: [ps.id],
    models: [last.modelId],
    modelNames: ['fuzz-model'],
    jobs: [job.id],
    evaluations: [ev.id],
    lightgcnDirs: [join(datasets, 'gowalla'), join(datasets, 'yelp2018')],
    csvFiles: [join(imports, 'ratings.csv')],
    profileFiles: [join(imports, 'profiles.json')],
    forbiddenPaths: [join(imports, 'etc', 'passwd'), '/etc/passwd', join(tmp.dir, 'outside.json'), join(imports, '..', '..', 'outside.json')],
    dataAddress: addresses.data,
    profileJson,
    numUsers: synth.numUsers,
    numItems: synth.numItems,
  };

  const dbFiles = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? dbFiles(join(dir, e.name)) : e.name.endsWith('.db') ? [join(dir, e.name)] : []));

  return {
    addresses,
    procs,
    pools,
    home,
    root,
    crashes,
    integrity() {
      const out: Record<string, string> = {};
      for (const f of dbFiles(home)) {
        const db = new Database(f, { readonly: true, fileMustExist: true });
        try {
          out[f.slice(home.length + 1)] = (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
        } finally {
          db.close();
        }
      }
      return out;
    },
    async honest() {
      const out: Record<string, string> = {};
      const check = async (name: string, f: () => Promise<unknown>): Promise<void> => {
        try {
          await f();
          out[name] = 'ok';
        } catch (e) {
          out[name] = e instanceof Error ? e.message : String(e);
        }
      };
      const d = createClient(data.DataServiceClient, addresses.data);
      const a = createClient(attack.AttackServiceClient, addresses.attack);
      const t = createClient(trainer.TrainerServiceClient, addresses.trainer);
      const s = createClient(scoring.ScoringServiceClient, addresses.evaluator);
      const r = createClient(evaluator.ModelRegistryServiceClient, addresses.evaluator);
      await check('data GetDataset', () => call(d, d.getDataset, { id: synth.id }));
      await check('data FetchDataset', async () => {
        for await (const _ of iterate(d.fetchDataset({ id: synth.id, splits: [], chunkSize: 0 }, callOptions('transfer')))) void _;
      });
      await check('attack ListGenerators', () => call(a, a.listGenerators, {}));
      await check('attack GetProfileSet', () => call(a, a.getProfileSet, { id: ps.id }));
      await check('trainer GetJob', () => call(t, t.getJob, { id: job.id }));
      await check('evaluator GetModel', () => call(r, r.getModel, { model: { id: last.modelId, name: '', version: 0 } }));
      await check('scoring Recommend', () => call(s, s.recommend, { model: { id: last.modelId, name: '', version: 0 }, user: 0, k: 5, includeSeen: false }));
      for (const [name, addr] of Object.entries(addresses))
        await check(`${name} health`, async () => {
          const st = await checkHealth(addr);
          if (st !== 'SERVING') throw new Error(st);
        });
      for (const c of [d, a, t, s, r]) c.close();
      return out;
    },
    async stop() {
      stopping = true;
      for (const c of Object.values(procs)) c.kill('SIGKILL');
      await Promise.all(Object.values(procs).map((c) => exited(c)));
    },
    cleanup: () => tmp.cleanup(),
  };
}
