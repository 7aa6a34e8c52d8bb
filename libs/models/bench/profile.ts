/**
 * npm run bench:profile [-- mf|apr|pamacf] [--threads 1|2] [--epochs N]
 *
 * Where an epoch's time goes: trains the model on full Gowalla (published recipe, adversarial
 * term on from the first epoch) under V8's sampling profiler (`node --cpu-prof`, one profile per
 * thread: the training thread and the optimiser helper), then prints each thread's self time
 * grouped into the step's parts: WebAssembly kernels by name, JS by function and file,
 * native calls, garbage collection, idle. A helper thread blocked in Atomics.wait shows as
 * self time of `serveRequests` (the wait is a call from JS), not as idle. The first epoch (JIT
 * warm-up, arena growth) and start-up (module loading: tsx's loader thread has its own profile)
 * are included; run more epochs to dilute them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (f: string, d: number): number => (args.includes(f) ? Number(args[args.indexOf(f) + 1]) : d);
const model = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a)) ?? 'pamacf';
const threads = opt('--threads', 2);
const epochs = opt('--epochs', 3);

if (process.env.ROBUSTREC_PROFILE_CHILD) {
  const { load } = await import('./gowalla');
  const { Trainer, resolveTrainConfig } = await import('../src');
  const { train } = load();
  const cfg = resolveTrainConfig({
    backbone: { name: 'mf' },
    defense: model === 'mf' ? { name: 'none' } : model === 'apr' ? { name: 'apr', params: { eps: 0.3, warmup_epochs: 0 } } : { name: 'pamacf', params: { rho: 0.3, warmup_epochs: 0 }, options: { magnitude: 'published' } },
  });
  const tr = Trainer.create(train, cfg, { threads });
  const walls: string[] = [];
  for (let e = 0; e < epochs; e++) walls.push(tr.runEpoch().seconds.toFixed(2));
  await tr.close();
  console.log(`${model}, ${threads} thread(s): epochs ${walls.join(', ')} s`);
  process.exit(0);
}

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number; }

const dir = mkdtempSync(join(tmpdir(), 'rr-prof-'));
const script = fileURLToPath(import.meta.url);
const run = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', script, ...args], {
  env: { ...process.env, ROBUSTREC_PROFILE_CHILD: '1' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
if (run.status !== 0) throw new Error(`profiled run failed (status ${run.status})`);

const label = (n: Node): string => {
  const { functionName: f, url } = n.callFrame;
  if (f.startsWith('(')) return f; // (garbage collector), (idle), (program), (root)
  if (url.startsWith('wasm://') || /^(\$|wasm-function\[)/.test(f)) return `wasm ${f}`;
  if (!url) return `native ${f || '(anonymous)'}`;
  const file = basename(url.split('?')[0]!);
  return `${f || '(anonymous)'} ${url.includes('node_modules') || url.startsWith('node:') ? `[${file}]` : file}`;
};
const profiles = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
for (const f of profiles) {
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const k = label(byId.get(p.samples[i]!)!);
    selfUs.set(k, (selfUs.get(k) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = (p.endTime - p.startTime) / 1e3;
  const rows = [...selfUs].sort((a, b) => b[1] - a[1]);
  const busy = rows.filter(([k]) => k !== '(idle)').reduce((s, [, v]) => s + v, 0) / 1e3;
  console.log(`\n${f} (${total.toFixed(0)} ms profiled, ${busy.toFixed(0)} ms busy)`);
  for (const [k, v] of rows.slice(0, 14)) console.log(`  ${(v / 1e3).toFixed(0).padStart(7)} ms ${((v / 1e3 / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
rmSync(dir, { recursive: true, force: true });
