import { parseArgs } from 'node:util';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attack, common, data, evaluator, trainer } from '@robustrec/contracts';
import { datasetsDir, gowallaDir, homeDir, RrError } from '@robustrec/core';
import { call, checkHealth, createClient, shutdownGraceMs } from '@robustrec/grpc';
import { blockToMarkdown, summarize } from './report';
import { writeReport } from './artifacts';
import { reportsDir, startPlatform, type Platform } from './platform';
import { progressReporter } from './progress';
import * as remote from './remote';
import { startOrchestratorService } from './service';
import { Orchestrator, TERMINAL, type Endpoints } from './runner';
import { expandCells, loadSpec, type ExperimentSpec } from './spec';
import { generatorsCommand, GENERATORS_USAGE } from './generators';
import type { CellRecord } from './store';
import { ExperimentStore } from './store';
import { SERVING_COMMANDS, SERVING_USAGE, servingCommand } from './serving';
import { startDashboard, type RunningDashboard } from '@robustrec/dashboard';

const here = dirname(fileURLToPath(import.meta.url));
const USAGE = `robustrec <command> [options]

Commands:
  demo                      start the four services in-process, run the default experiment, print the tables
  up                        start the platform (orchestrator :50050, data :50051, attack :50052, trainer :50053,
                            evaluator :50054) and the web dashboard (:8080) on 127.0.0.1 (--host to change) until Ctrl-C
  dashboard                 serve the web dashboard over stored results (--home DIR; a results folder holding
                            experiments.db works too, served from a copy) with the services started in-process,
                            or over running services (--orchestrator ADDR --data ADDR --evaluator ADDR --trainer ADDR)
  run <spec.yaml>           run an experiment grid (resumes: finished cells are skipped)
  report <spec.yaml>        write the report (Markdown, CSV, JSON, SVG + PNG plots) of a spec's stored cells
  status [spec.yaml]        cells done/failed per spec; health of the configured services
  watch <id|spec-name>      follow a submitted experiment to its end (needs --orchestrator)
  cancel <id>               cancel a submitted experiment (needs --orchestrator)
  list <datasets|profiles|generators|components|models|jobs|evaluations>
${GENERATORS_USAGE}
${SERVING_USAGE}  evaluate --model MODEL --evaluator ADDR[,ADDR..] [--dataset ID] [--sample-users N] [--seed S] [--shards N] [--ks 10,20] [--json]   metrics with 95% CIs, on a seeded user sample and/or N shards (evaluate.ts)

Options:
  --home DIR                state directory (default ROBUSTREC_HOME or ./.robustrec)
  --orchestrator ADDR       run/status/report/watch/cancel through a running orchestrator service (robustrec up);
                            default ROBUSTREC_ORCHESTRATOR; without one, grids run in this process
  --host HOST               up: the address the services listen on (default 127.0.0.1)
  --base-port N             up: orchestrator on N, data N+1, attack N+2, trainer N+3, evaluator N+4 (default 50050)
  --dashboard-port N        up, dashboard: the dashboard's HTTP port (default 8080; 0 picks a free one)
TLS and tokens: ROBUSTREC_TLS_CERT/KEY/CA, ROBUSTREC_TOKEN (docs/deploy.md, Security)
  --data ADDR --evaluator ADDR --trainer ADDR[,ADDR..] --attack ADDR[,ADDR..]
                            use running services instead of starting them in-process
  --out DIR                 where reports go (default <home>/reports/<spec>)
  --seeds 2024,2025         run only these seeds of the spec (the other cells stay for a later run)
  --attacks Clean,Random    run/report only these attack settings of the spec (names as in the spec)
  --models MF,PamaCF        run/report only these models of the spec (names as in the spec)
  --trainers N              in-process mode: start N trainer services (one update thread each) and spread
                            the cells over them; demo and run default to one per core, at most 4
`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  // the serving commands parse their own options (serving.ts)
  args: ([...SERVING_COMMANDS, 'evaluate'] as readonly string[]).includes(process.argv[2] ?? '') ? process.argv.slice(2, 3) : process.argv.slice(2),
  options: {
    home: { type: 'string' },
    data: { type: 'string' },
    evaluator: { type: 'string' },
    trainer: { type: 'string' },
    attack: { type: 'string' },
    out: { type: 'string' },
    seeds: { type: 'string' },
    attacks: { type: 'string' },
    models: { type: 'string' },
    trainers: { type: 'string' },
    orchestrator: { type: 'string', default: process.env.ROBUSTREC_ORCHESTRATOR },
    host: { type: 'string' },
    'base-port': { type: 'string', default: '50050' },
    'dashboard-port': { type: 'string', default: '8080' },
    'token-file': { type: 'string' },
    'white-box': { type: 'boolean' },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const home = resolve(values.home ?? homeDir());
const cmd = positionals[0];

function remoteEndpoints(): Endpoints | undefined {
  if (!values.data) return undefined;
  const list = (v?: string): string[] => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);
  if (!values.evaluator || !values.trainer) throw new RrError('INVALID_ARGUMENT', '--data needs --evaluator and --trainer too');
  return { data: values.data, evaluator: values.evaluator, trainers: list(values.trainer), attackers: list(values.attack) };
}

/**
 * In-process trainer services. Grids default to one per core (at most 4): a training's second
 * update thread speeds it up ~1.3x on 2 cores (MF 2.12 -> 1.67 s/epoch), two one-thread
 * trainings side by side ~2x, and results are bit-identical either way.
 */
function trainerCount(): number {
  if (values.trainers === undefined) return cmd === 'demo' || cmd === 'run' ? Math.max(1, Math.min(4, availableParallelism())) : 1;
  const n = Number(values.trainers);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new RrError('INVALID_ARGUMENT', `--trainers: must be an integer in [1, 64], got ${JSON.stringify(values.trainers)}`);
  return n;
}

async function withPlatform<T>(fn: (e: Endpoints) => Promise<T>): Promise<T> {
  const remote = remoteEndpoints();
  if (remote) return fn(remote);
  const platform: Platform = await startPlatform({ home, trainers: trainerCount() });
  try {
    return await fn(platform.endpoints);
  } finally {
    await platform.shutdown();
  }
}

/** Keeps the named entries of a spec list; a name the spec does not have is refused, not ignored. */
function pick<T extends { name: string }>(flag: string, list: T[], names: string | undefined): T[] {
  if (names === undefined) return list;
  const wanted = names.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Set(list.map((e) => e.name));
  const unknown = wanted.filter((n) => !known.has(n));
  if (!wanted.length || unknown.length) {
    throw new RrError('INVALID_ARGUMENT', `--${flag}: ${unknown.length ? `not in the spec: ${unknown.join(', ')}` : 'empty'}; the spec has ${[...known].join(', ')}`);
  }
  return list.filter((e) => wanted.includes(e.name));
}

/** The spec narrowed by --seeds, --attacks and --models (cell keys do not depend on the rest). */
function specWithSeeds(specPath: string): ExperimentSpec {
  const spec = loadSpec(specPath);
  let seeds = spec.seeds;
  if (values.seeds) {
    seeds = values.seeds.split(',').map(Number);
    if (seeds.some((s) => !Number.isInteger(s))) throw new RrError('INVALID_ARGUMENT', `--seeds: expected integers, got ${values.seeds}`);
  }
  return { ...spec, seeds, attacks: pick('attacks', spec.attacks, values.attacks), models: pick('models', spec.models, values.models) };
}

/** This expansion's cells only (the store keeps cells of earlier versions of a spec too). */
function currentCells(spec: ExperimentSpec, stored: CellRecord[]): CellRecord[] {
  const keys = new Set(expandCells(spec).map((c) => c.key));
  return stored.filter((c) => keys.has(c.key));
}

/** Lists the cells that did not finish, with their errors (the last thing a failed run prints). */
function reportFailures(spec: ExperimentSpec, cells: CellRecord[]): number {
  const byKey = new Map(cells.map((c) => [c.key, c]));
  const expected = expandCells(spec);
  const lost = expected.filter((c) => byKey.get(c.key)?.state !== 'done');
  if (!lost.length) return 0;
  console.error(`\n${lost.length} of ${expected.length} cells did not finish:`);
  for (const c of lost) {
    const rec = byKey.get(c.key);
    const why = rec?.state === 'failed' ? `${rec.errorCode ? `${rec.errorCode}: ` : ''}${rec.error}` : rec ? `left ${rec.state}` : 'never started';
    console.error(`  ${c.dataset.name}/${c.attack.name}/${c.model.variant}/seed ${c.seed}: ${why}`);
  }
  console.error('Re-running the same command retries them; finished cells are kept.');
  return lost.length;
}

/**
 * Trainer jobs left unfinished on this home by a run of another spec resume first when the
 * trainers start (by design: nothing is lost), so this run's cells wait behind them; says so,
 * by name, instead of leaving the user to wonder why nothing of theirs moves.
 */
async function noteForeignJobs(endpoints: Endpoints, spec: ExperimentSpec, store: ExperimentStore): Promise<void> {
  const own = new Set(store.list(spec.name).map((c) => c.jobId).filter(Boolean));
  const foreign: string[] = [];
  for (const [i, address] of endpoints.trainers.entries()) {
    const c = createClient(trainer.TrainerServiceClient, address);
    try {
      for (const j of (await call(c, c.listJobs, { state: 0 })).jobs)
        if (!TERMINAL.has(j.state) && !own.has(j.id))
          foreign.push(`${j.id} ${j.name || '(unnamed)'}, epoch ${j.epoch}/${j.config?.epochs ?? '?'}${endpoints.trainers.length > 1 ? `, trainer ${i + 1}` : ''}`);
    } finally {
      c.close();
    }
  }
  if (foreign.length)
    console.log(
      `${foreign.length} unfinished trainer job(s) of earlier runs on this home resume first, before this spec's cells:\n` +
        `${foreign.map((f) => `  ${f}`).join('\n')}\n(to keep them apart, give this spec its own --home)`,
    );
}

async function runSpec(specPath: string, printTables: boolean, epilogue?: string): Promise<void> {
  const spec = specWithSeeds(specPath);
  const store = new ExperimentStore(join(home, 'orchestrator', 'experiments.db'));
  const t0 = performance.now();
  try {
    await withPlatform(async (endpoints) => {
      if (!remoteEndpoints()) await noteForeignJobs(endpoints, spec, store);
      const orch = new Orchestrator(endpoints, store, progressReporter());
      const cells = currentCells(spec, await orch.run(spec));
      const out = values.out ? resolve(values.out) : reportsDir(home, spec.name);
      const { report, files } = await writeReport(spec, cells, out, endpoints.evaluator);
      if (printTables) {
        for (const b of report.table1) console.log(`\nTable 1: recommendation performance on ${b.dataset} (%)\n\n${blockToMarkdown(b, 2)}`);
        for (const b of report.table2) console.log(`\nTable 2: attack success on ${b.dataset} (%, lower is better)\n\n${blockToMarkdown(b, 3)}`);
      }
      console.log(`\n${report.cells.done} cells done, ${report.cells.failed} failed in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      console.log(`artifacts: ${out}\n${files.map((f) => `  ${f}`).join('\n')}`);
      console.log(`state (SQLite catalogues, models, checkpoints): ${home}`);
      if (printTables) {
        const summary = summarize(report);
        if (summary.length) console.log(`\nWhat the tables say:\n${summary.map((s) => `  ${s}`).join('\n')}`);
      }
      if (epilogue) console.log(`\n${epilogue}`);
      if (reportFailures(spec, cells)) process.exitCode = 1;
    });
  } finally {
    store.close();
  }
}

async function list(what: string | undefined): Promise<void> {
  await withPlatform(async (e) => {
    switch (what) {
      case 'datasets': {
        const c = createClient(data.DataServiceClient, e.data);
        for (const d of (await call(c, c.listDatasets, { kind: 0 })).datasets)
          console.log(`${d.id}  ${data.datasetKindToJSON(d.kind).replace('DATASET_KIND_', '').padEnd(9)} ${d.name.padEnd(28)} users ${d.numUsers} items ${d.numItems} train ${d.numTrain}`);
        break;
      }
      case 'profiles': {
        const c = createClient(data.DataServiceClient, e.data);
        for (const p of (await call(c, c.listProfileSets, { datasetId: '' })).profileSets)
          console.log(`${p.id}  ${p.generator.padEnd(12)} dataset ${p.datasetId} profiles ${p.numProfiles} targets ${p.targetItems.join(',')}`);
        break;
      }
      case 'generators': {
        if (!e.attackers[0]) throw new RrError('INVALID_ARGUMENT', '--attack is required');
        const c = createClient(attack.AttackServiceClient, e.attackers[0]);
        for (const g of (await call(c, c.listGenerators, {})).generators) console.log(`${g.name.padEnd(12)} ${g.builtin ? 'built-in' : g.address}  ${g.description}`);
        break;
      }
      case 'models': {
        const c = createClient(evaluator.ModelRegistryServiceClient, e.evaluator);
        for (const m of (await call(c, c.listModels, { name: '' })).models) console.log(`${m.id}  ${m.name} v${m.version}  ${m.backbone}+${m.defense}  dataset ${m.datasetId}`);
        break;
      }
      case 'jobs': {
        const c = createClient(trainer.TrainerServiceClient, e.trainers[0]!);
        for (const j of (await call(c, c.listJobs, { state: 0 })).jobs)
          console.log(`${j.id}  ${trainer.jobStateToJSON(j.state).replace('JOB_STATE_', '').padEnd(9)} ${j.name}  epoch ${j.epoch}/${j.config?.epochs}  ${j.error}`);
        break;
      }
      case 'components': {
        const c = createClient(trainer.TrainerServiceClient, e.trainers[0]!);
        const res = await call(c, c.listComponents, {});
        const show = (kind: string, x: common.ComponentInfo): void => {
          console.log(`${kind.padEnd(9)} ${x.name.padEnd(10)} ${x.description}`);
          for (const p of x.params) {
            const bounds = [p.positive ? `> ${p.min ?? 0}` : p.min !== undefined ? `>= ${p.min}` : '', p.max !== undefined ? `<= ${p.max}` : '', p.integer ? 'integer' : ''].filter(Boolean);
            console.log(`            ${p.name} = ${p.defaultValue}${bounds.length ? `  [${bounds.join(', ')}]` : ''}  ${p.description}`);
          }
          for (const o of x.options) console.log(`            ${o.name} = ${o.defaultValue}${o.values.length ? `  (${o.values.join(' | ')})` : ''}  ${o.description}`);
        };
        for (const b of res.backbones) show('backbone', b);
        for (const d of res.defenses) show('defense', d);
        show('train', res.trainOptions!);
        break;
      }
      case 'evaluations': {
        const c = createClient(evaluator.EvaluatorServiceClient, e.evaluator);
        for (const v of (await call(c, c.listEvaluations, { modelId: '', datasetId: '' })).evaluations)
          console.log(`${v.id}  model ${v.modelId} dataset ${v.datasetId}  ${v.metrics.map((m) => `${m.name}@${m.k}=${m.value.toFixed(4)}`).join(' ')}`);
        break;
      }
      default:
        throw new RrError('INVALID_ARGUMENT', `list what? one of datasets, profiles, generators, components, models, jobs, evaluations (got ${what ?? 'nothing'})`);
    }
  });
}

/** The commands that go through a running orchestrator service (--orchestrator). */
async function viaOrchestrator(address: string): Promise<boolean> {
  const arg = positionals[1];
  const need = (what: string): string => {
    if (!arg) throw new RrError('INVALID_ARGUMENT', `${cmd}: give ${what}`);
    return arg;
  };
  switch (cmd) {
    case 'run': {
      const specPath = need('a spec file');
      if (!existsSync(specPath)) throw new RrError('INVALID_ARGUMENT', `spec file not found: ${specPath}`);
      if (values.attacks || values.models) throw new RrError('INVALID_ARGUMENT', '--attacks/--models narrow an in-process run; a submitted experiment runs the whole spec (--seeds works with both)');
      const e = await remote.submitAndWatch(address, specPath, values.seeds ? specWithSeeds(specPath).seeds : []);
      const files = await remote.fetchReport(address, e.id, values.out ? resolve(values.out) : reportsDir(home, e.specName));
      console.log(`artifacts:\n${files.map((f) => `  ${f}`).join('\n')}`);
      if (e.cellsDone !== e.cellsTotal) process.exitCode = 1;
      return true;
    }
    case 'watch': {
      const e = await remote.watch(address, need('an experiment id or spec name'));
      if (e.cellsDone !== e.cellsTotal) process.exitCode = 1;
      return true;
    }
    case 'report': {
      const which = need('a spec file, spec name or experiment id');
      const name = existsSync(which) ? loadSpec(which).name : which;
      console.log((await remote.fetchReport(address, name, values.out ? resolve(values.out) : reportsDir(home, name))).join('\n'));
      return true;
    }
    case 'status':
      await remote.status(address);
      return true;
    case 'cancel':
      await remote.cancel(address, need('an experiment id'));
      return true;
    default:
      return false;
  }
}

async function main(): Promise<void> {
  if (values.help || !cmd) {
    console.log(USAGE);
    return;
  }
  if (values.orchestrator && (await viaOrchestrator(values.orchestrator))) return;
  if (cmd === 'watch' || cmd === 'cancel') throw new RrError('INVALID_ARGUMENT', `${cmd} needs --orchestrator ADDR (or ROBUSTREC_ORCHESTRATOR)`);
  switch (cmd) {
    case 'demo': {
      // The paper's protocol on Gowalla with its published profiles; without the files, the same
      // grid on a synthetic dataset with generated attacks (the profiles index Gowalla's items).
      const found = gowallaDir();
      const spec = join(here, '..', 'specs', found ? 'demo.yaml' : 'demo-synthetic.yaml');
      console.log(
        found
          ? `Gowalla found at ${found}: MF, APR and PamaCF, 30 epochs each, on clean data and under the published Random and Bandwagon attacks (9 trainings).`
          : `No Gowalla directory found at ${datasetsDir()} (set ROBUSTREC_DATASETS_DIR): running the demo on a SYNTHETIC dataset with generated attacks; its numbers show the platform working, not the paper's result.`,
      );
      const grid = join(here, '..', 'specs', 'gowalla-paper.yaml');
      await runSpec(
        spec,
        true,
        `The full paper grid (clean and 4 attacks x 3 models x 3 seeds = 45 trainings, under an hour on 2 cores): npx robustrec run ${relative(process.cwd(), grid)}` +
          `\n(or: npx tsx services/orchestrator/src/main.ts run ${relative(process.cwd(), grid)}); its committed results are in results/gowalla-paper.` +
          `\nSee these results in the browser (tables, charts, embeddings, try-it): npx robustrec dashboard${values.home ? ` --home ${values.home}` : ''}`,
      );
      break;
    }
    case 'run':
    case 'report': {
      const specPath = positionals[1];
      if (!specPath || !existsSync(specPath)) throw new RrError('INVALID_ARGUMENT', `spec file not found: ${specPath ?? '(none given)'}`);
      if (cmd === 'run') await runSpec(specPath, true);
      else {
        const spec = specWithSeeds(specPath);
        const store = new ExperimentStore(join(home, 'orchestrator', 'experiments.db'));
        const { files } = await writeReport(spec, currentCells(spec, store.list(spec.name)), values.out ? resolve(values.out) : reportsDir(home, spec.name), values.evaluator);
        store.close();
        console.log(files.join('\n'));
      }
      break;
    }
    case 'status': {
      const store = new ExperimentStore(join(home, 'orchestrator', 'experiments.db'));
      const by = new Map<string, Record<string, number>>();
      for (const c of store.list()) {
        const s = by.get(c.specName) ?? {};
        s[c.state] = (s[c.state] ?? 0) + 1;
        by.set(c.specName, s);
      }
      store.close();
      for (const [spec, s] of by) console.log(`${spec}: ${Object.entries(s).map(([k, v]) => `${v} ${k}`).join(', ')}`);
      const e = remoteEndpoints();
      if (e)
        for (const [name, addr] of [['data', e.data], ['evaluator', e.evaluator], ...e.trainers.map((t) => ['trainer', t]), ...e.attackers.map((a) => ['attack', a])] as const)
          console.log(`${name} ${addr}: ${await checkHealth(addr).catch((err: Error) => `UNREACHABLE (${err.message})`)}`);
      break;
    }
    case 'list':
      await list(positionals[1]);
      break;
    case 'generators':
      process.exitCode = await generatorsCommand(positionals.slice(1), {
        home,
        attack: values.attack?.split(',')[0],
        tokenFile: values['token-file'],
        whiteBox: values['white-box'],
        timeout: values.timeout,
      });
      break;
    case 'export':
    case 'score':
    case 'alias':
      await servingCommand(process.argv.slice(2));
      break;
    case 'dashboard':
      await dashboardCommand();
      break;
    case 'evaluate':
      process.exitCode = await (await import('./evaluate')).evaluateCommand(process.argv.slice(3));
      break;
    case 'up': {
      const host = values.host ?? '127.0.0.1';
      const base = Number(values['base-port']);
      if (!Number.isInteger(base) || base < 1 || base > 65530) throw new RrError('INVALID_ARGUMENT', `--base-port: expected a port number, got ${values['base-port']}`);
      const p = await startPlatform({ home, host, ports: { data: base + 1, attack: base + 2, trainer: base + 3, evaluator: base + 4 }, trainers: trainerCount() });
      const orch = await startOrchestratorService({ address: `${host}:${base}`, home, endpoints: p.endpoints });
      const dash = await startDashboard({ address: `${host}:${dashboardPort()}`, endpoints: { orchestrator: orch.address, data: p.endpoints.data, evaluator: p.endpoints.evaluator, trainers: p.endpoints.trainers } });
      console.log(`RobustRec services up (state in ${home}):\n${JSON.stringify({ orchestrator: orch.address, ...p.endpoints }, null, 2)}`);
      console.log(`Dashboard: ${dash.url}`);
      console.log(`Submit from another terminal: robustrec run SPEC.yaml --orchestrator ${orch.address}\nCtrl-C to stop.`);
      const sig = await untilSignal();
      console.error(`${sig}: draining (grace ${shutdownGraceMs()} ms per service)`);
      await dash.close();
      await orch.shutdown(shutdownGraceMs());
      await p.shutdown(shutdownGraceMs());
      break;
    }
    default:
      console.error(USAGE);
      throw new RrError('INVALID_ARGUMENT', `unknown command: ${cmd}`);
  }
}

function dashboardPort(): number {
  const n = Number(values['dashboard-port']);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new RrError('INVALID_ARGUMENT', `--dashboard-port: expected a port number, got ${values['dashboard-port']}`);
  return n;
}

const untilSignal = (): Promise<string> =>
  new Promise<string>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });

/**
 * `robustrec dashboard`: over running services (--orchestrator with --data, --evaluator,
 * --trainer), or over a home's stored results with the services started in this process
 * (nothing to start by hand). A results folder (experiments.db at its top, as results/ in
 * the repository holds them) is served from a temporary copy, so viewing it never writes it.
 */
async function dashboardCommand(): Promise<void> {
  const host = values.host ?? '127.0.0.1';
  const address = `${host}:${dashboardPort()}`;
  let dash: RunningDashboard;
  let stop: () => Promise<void>;
  if (values.orchestrator) {
    const e = remoteEndpoints();
    if (!e) throw new RrError('INVALID_ARGUMENT', '--orchestrator needs --data, --evaluator and --trainer too (or give --home alone)');
    dash = await startDashboard({ address, endpoints: { orchestrator: values.orchestrator, data: e.data, evaluator: e.evaluator, trainers: e.trainers } });
    stop = () => dash.close();
  } else {
    let dir = home;
    let copy: string | undefined;
    if (!existsSync(join(home, 'orchestrator', 'experiments.db')) && existsSync(join(home, 'experiments.db'))) {
      copy = mkdtempSync(join(tmpdir(), 'robustrec-dashboard-'));
      mkdirSync(join(copy, 'orchestrator'));
      copyFileSync(join(home, 'experiments.db'), join(copy, 'orchestrator', 'experiments.db'));
      dir = copy;
      console.log(`${home} is a results folder: serving a copy of its experiments.db (its models are not in it; charts that need them are left out)`);
    } else if (!existsSync(join(home, 'orchestrator', 'experiments.db'))) {
      console.log(`No stored results under ${home} yet (run a spec there first, or give --home DIR)`);
    }
    // one trainer per trainer home found (robustrec up --trainers N left <home>/trainer-2..N), so
    // every stored job's history is reachable
    const trainers = 1 + (existsSync(dir) ? readdirSync(dir).filter((f) => /^trainer-\d+$/.test(f)).length : 0);
    const p = await startPlatform({ home: dir, trainers });
    const orch = await startOrchestratorService({ home: dir, endpoints: p.endpoints });
    dash = await startDashboard({ address, endpoints: { orchestrator: orch.address, data: p.endpoints.data, evaluator: p.endpoints.evaluator, trainers: p.endpoints.trainers } });
    stop = async () => {
      await dash.close();
      await orch.shutdown(shutdownGraceMs());
      await p.shutdown(shutdownGraceMs());
      if (copy) rmSync(copy, { recursive: true, force: true });
    };
  }
  console.log(`Dashboard: ${dash.url}  (Ctrl-C to stop)`);
  const sig = await untilSignal();
  console.error(`${sig}: stopping the dashboard`);
  await stop();
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    process.exit(2);
  },
);
