import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { data } from '@robustrec/contracts';
import { repoRoot } from '@robustrec/core';
import { call, createClient } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { ExperimentStore } from '@robustrec/orchestrator-service';
import { exited, spawnTs, tempDir } from './helpers';
import { MF, smallGridSpec } from './specs';

/**
 * The example generators of examples/generators/, used as their READMEs say: stubs generated
 * from proto/, the generator started as a separate process, registered with
 * `robustrec generators register`, then a grid cell run with `robustrec run` on a spec naming
 * it. The attack must raise T-HR@50 of its targets over the clean model's.
 *
 * The Python example needs python3 with grpcio and protobuf, and protoc >= 3.15 with the
 * gRPC Python plugin: .ci/run installs them (Debian packages python3-grpcio python3-protobuf
 * protobuf-compiler protobuf-compiler-grpc). Without them this test fails; it never skips.
 */
const SYNTHETIC = { numUsers: 500, numItems: 400, meanInteractions: 20, seed: 5 };
const tmp = tempDir('rr-plugins-');
const home = join(tmp.dir, 'home');
const children: ChildProcess[] = [];
let targets: number[] = [];

/** Starts a generator process; resolves to its address once it prints LISTENING. */
function startGenerator(cmd: string, args: string[], cwd: string): Promise<string> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /^LISTENING (\d+)$/.exec(l);
      if (m) resolve(`127.0.0.1:${m[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${err}`)));
  });
}

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const p = spawnTs('services/orchestrator/src/main.ts', [...args, '--home', home]);
  const code = await exited(p);
  return { code, out: p.output() };
}

/**
 * Registers the generator at `address` as `name` with the CLI, runs clean vs. its attack on MF
 * with the CLI, and returns the two cells' T-HR@50 on the same targets.
 */
async function registerAndRun(name: string, address: string): Promise<{ clean: number; attacked: number }> {
  const reg = await cli(['generators', 'register', name, address]);
  expect(reg.out).toContain(`registered ${name} at ${address} (black-box: reads the training split only)`);
  expect(reg.code).toBe(0);
  const spec = join(tmp.dir, `${name}.yaml`);
  writeFileSync(
    spec,
    smallGridSpec(name, {
      synthetic: SYNTHETIC,
      attacks: [
        { name: 'Clean', targets },
        { name: 'Popular', generator: name, targets, budget: 0.05 },
      ],
      models: [MF],
      // enough training for MF to learn popularity (clean T-HR@50 of these targets ~2%, attacked ~30%)
      train: { epochs: 10, lr: 0.01 },
      ks: [50],
    }),
  );
  const run = await cli(['run', spec]);
  expect(run.out).toContain('2 cells done, 0 failed');
  expect(run.code).toBe(0);
  const store = new ExperimentStore(join(home, 'orchestrator', 'experiments.db'));
  try {
    const cells = store.list(name);
    const tHr = (attack: string): number => cells.find((c) => c.attack === attack)!.metrics['t_hr@50']!;
    return { clean: tHr('Clean'), attacked: tHr('Popular') };
  } finally {
    store.close();
  }
}

/** python3 (or ROBUSTREC_PYTHON) that can import grpc and google.protobuf; throws naming what to install. */
function findPython(): string {
  const candidates = process.env.ROBUSTREC_PYTHON ? [process.env.ROBUSTREC_PYTHON] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import grpc, google.protobuf; print(grpc.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return py;
    tried.push(`${py}: ${(r.error?.message ?? r.stderr).trim().split('\n').pop()}`);
  }
  throw new Error(
    `no Python with grpcio and protobuf found (tried ${tried.join('; ')}). Install them as .ci/run does: ` +
      'apt-get install python3 python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc (or set ROBUSTREC_PYTHON)',
  );
}

beforeAll(async () => {
  // the targets: three of the least popular items with some training interactions (the
  // paper's setting), read from a data service of our own on the same synthetic data
  const own = await startDataService({ home: join(tmp.dir, 'stats') });
  const dc = createClient(data.DataServiceClient, own.address);
  try {
    const id = (await call(dc, dc.importDataset, { name: 'stats', synthetic: { ...SYNTHETIC, popularityExponent: 0, clusters: 0 } })).dataset!.id;
    const pop = (await call(dc, dc.getStatistics, { id })).statistics!.itemPopularity;
    targets = pop
      .map((c, i) => [c, i] as const)
      .filter(([c]) => c > 0)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1])
      .slice(0, 3)
      .map(([, i]) => i);
  } finally {
    dc.close();
    await own.shutdown();
  }
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});

describe('example attack generators', () => {
  it('TypeScript (examples/generators/typescript): stubs, type check, register, a grid cell; T-HR@50 rises over clean', async () => {
    const dir = join(repoRoot, 'examples/generators/typescript');
    execFileSync('npm', ['run', '--silent', 'generate'], { cwd: dir, stdio: 'pipe' });
    execFileSync('npm', ['run', '--silent', 'typecheck'], { cwd: dir, stdio: 'pipe' });
    const address = await startGenerator(process.execPath, ['--import', 'tsx', 'server.ts', '--port', '0', '--name', 'popular-ts'], dir);
    const { clean, attacked } = await registerAndRun('popular-ts', address);
    expect(attacked, `T-HR@50 clean ${clean}, attacked ${attacked}`).toBeGreaterThan(clean + 0.1);
  }, 240_000);

  it('Python (examples/generators/python): stubs from protoc, register, a grid cell; T-HR@50 rises over clean', async () => {
    const python = findPython();
    const dir = join(repoRoot, 'examples/generators/python');
    const stubs = join(tmp.dir, 'py-stubs');
    execFileSync(join(dir, 'generate_stubs.sh'), [stubs], { stdio: 'pipe' });
    const address = await startGenerator(python, [join(dir, 'popular_generator.py'), '--port', '0', '--name', 'popular-py', '--stubs', stubs], dir);
    const { clean, attacked } = await registerAndRun('popular-py', address);
    expect(attacked, `T-HR@50 clean ${clean}, attacked ${attacked}`).toBeGreaterThan(clean + 0.1);
  }, 240_000);
});
