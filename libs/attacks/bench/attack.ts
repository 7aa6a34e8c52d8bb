/**
 * npm run bench:attack [-- --only dp,rev] [--params k=v,...] [--check] [--out dir]
 *
 * Wall time and peak RSS of every built-in attack on full Gowalla (train = train.txt ∪
 * valid.txt, the paper's setting; the authors' 5 low-popularity targets; 1% fake users =
 * 298; default profile length and params). Each attack runs in its own child process so
 * that peak RSS is per attack. With --check, a plain MF-BPR (the attack library's surrogate
 * class, a fresh seed, not the attacker's model) is trained on clean and on each poisoned
 * training set, including the authors' published profiles, and T-HR@50 is estimated on
 * 3000 sampled genuine users: a quick black-box sanity check, not the trainer's figure.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { csrFromPairs, gowallaDir, hostDescription, peakRssBytes, Rng, rowOf, type Csr } from '@robustrec/core';
import { builtinSpec, fromAuthorsJson, generators, Mf, resolveAttack, runBuiltin, sampleUsers, surrogateTargetHitRate, type Profile } from '../src/index';

const args = process.argv.slice(2);
const flag = (n: string): string | undefined => {
  const i = args.indexOf(n);
  return i >= 0 ? (args[i + 1] ?? '') : undefined;
};

function loadGowalla(): { train: Csr; numItems: number; dir: string } {
  const dir = gowallaDir();
  if (!dir) throw new Error('Gowalla not found (ROBUSTREC_DATASETS_DIR)');
  const rows: number[] = [];
  const cols: number[] = [];
  let numUsers = 0;
  let numItems = 0;
  for (const f of ['train.txt', 'valid.txt', 'test.txt'])
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const p = line.trim().split(/\s+/).map(Number);
      if (p.length < 1 || !line.trim()) continue;
      numUsers = Math.max(numUsers, p[0]! + 1);
      for (const i of p.slice(1)) {
        numItems = Math.max(numItems, i + 1);
        if (f !== 'test.txt') {
          rows.push(p[0]!);
          cols.push(i);
        }
      }
    }
  return { train: csrFromPairs(numUsers, numItems, rows, cols), numItems, dir };
}

async function runOne(name: string, outDir: string): Promise<void> {
  const { train, numItems, dir } = loadGowalla();
  const authors = fromAuthorsJson(readFileSync(join(dir, 'attacks', 'random.json'), 'utf8'));
  const params = Object.fromEntries((flag('--params') || '').split(',').filter(Boolean).map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])]));
  const cfg = resolveAttack({ generator: name, targetItems: authors.targets, budgetFraction: 0.01, params }, train, numItems, builtinSpec(name));
  const t0 = performance.now();
  let last = 0;
  const out = await runBuiltin(cfg, train, numItems, async (e) => {
    if (performance.now() - last > 15000) {
      last = performance.now();
      process.stderr.write(`  [${name}] ${e.phase} ${e.done}/${e.total} ${e.message ?? ''}\n`);
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  const lens = out.profiles.map((p) => p.items.length);
  const res = {
    name,
    seconds,
    peakRssBytes: peakRssBytes(),
    profiles: out.profiles.length,
    meanLength: lens.reduce((a, b) => a + b, 0) / lens.length,
    diagnostics: out.diagnostics ?? [],
    config: cfg,
  };
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify({ ...res, targets: cfg.targetItems, profiles: out.profiles }));
  process.stdout.write(JSON.stringify(res) + '\n');
}

function inject(train: Csr, profiles: Profile[]): Csr {
  const rows: number[] = [];
  const cols: number[] = [];
  for (let u = 0; u < train.numRows; u++) for (const i of rowOf(train, u)) rows.push(u), cols.push(i);
  profiles.forEach((p, f) => p.items.forEach((i) => (rows.push(train.numRows + f), cols.push(i))));
  return csrFromPairs(train.numRows + profiles.length, train.numCols, rows, cols);
}

function checkThr(train: Csr, numItems: number, profiles: Profile[], targets: number[]): number {
  const poisoned = inject(train, profiles);
  const rng = new Rng(7);
  const mf = new Mf(poisoned.numRows, numItems, 64, rng.fork('init'));
  for (let e = 0; e < 20; e++) mf.bprEpoch(poisoned, rng, 0.05, 0.001);
  const users = sampleUsers(new Rng(11), train.numRows, 3000);
  return surrogateTargetHitRate((u, o) => mf.scoreAll(u, o), train, numItems, targets, users, 50);
}

async function main(): Promise<void> {
  const one = flag('--one');
  const outDir = flag('--out') || join(process.env.TMPDIR ?? '/tmp', 'robustrec-bench-attack');
  mkdirSync(outDir, { recursive: true });
  if (one) return runOne(one, outDir);
  const only = flag('--only')?.split(',') ?? [...generators.keys()];
  console.log(`bench:attack on ${hostDescription()}, node ${process.version}, ${new Date().toISOString()}`);
  const self = fileURLToPath(import.meta.url);
  const results: Array<Record<string, unknown>> = [];
  for (const name of only) {
    const line = execFileSync(process.execPath, [...process.execArgv, self, '--one', name, '--out', outDir, '--params', flag('--params') ?? ''], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const r = JSON.parse(line.trim().split('\n').pop()!);
    results.push(r);
    const diag = (r.diagnostics as Array<{ name: string; k: number; value: number }>).map((d) => `${d.name}${d.k ? '@' + d.k : ''}=${d.value.toFixed(4)}`).join(' ');
    console.log(`${name.padEnd(10)} ${r.seconds.toFixed(2).padStart(9)} s  peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0).padStart(6)} MiB  ${r.profiles} profiles, mean length ${r.meanLength.toFixed(1)}  ${diag}`);
  }
  if (args.includes('--check')) {
    const { train, numItems, dir } = loadGowalla();
    const authors = fromAuthorsJson(readFileSync(join(dir, 'attacks', 'random.json'), 'utf8')).targets;
    console.log(`\nsanity check: MF-BPR (dim 64, 20 epochs) T-HR@50 on 3000 sampled genuine users, targets ${authors.join(',')}`);
    console.log(`clean              ${checkThr(train, numItems, [], authors).toFixed(4)}`);
    for (const name of only) {
      const f = JSON.parse(readFileSync(join(outDir, `${name}.json`), 'utf8')) as { profiles: Profile[]; targets: number[] };
      console.log(`${('ours/' + name).padEnd(18)} ${checkThr(train, numItems, f.profiles, f.targets).toFixed(4)}`);
    }
    for (const name of args.includes('--no-authors') ? [] : ['random', 'bandwagon', 'dp', 'rev']) {
      const a = fromAuthorsJson(readFileSync(join(dir, 'attacks', `${name}.json`), 'utf8'), name, 10);
      console.log(`${('authors/' + name).padEnd(18)} ${checkThr(train, numItems, a.profiles, a.targets).toFixed(4)}`);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
