/**
 * npx tsx libs/models/bench/theory.ts [--out DIR] [--seeds N] [--draws D] [--no-plots]
 *
 * The theory lab: runs every sweep of libs/models/src/theory (the paper's Gaussian recommender,
 * Theorems 1–4), prints one Markdown table per sweep (parameter, LHS, RHS, holds, gap), and
 * writes one figure per sweep (SVG + PNG, @robustrec/charts' sweepChart: mean over seeds with a
 * ± std band) plus results.json to DIR (default docs/theory/). Exit code 1 when a check that the
 * paper's precondition covers fails. See docs/theory.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderSvg, svgToPng, sweepChart } from '@robustrec/charts';
import { type SweepResult, type SweepRow, checkTheorem12, checkTheorem2Poison, checkTheorem34, checkTheorem3Snr, checkTheorem4Poison, compareRules } from '../src/theory/index';

const args = process.argv.slice(2);
const opt = (f: string): string | undefined => (args.includes(f) ? args[args.indexOf(f) + 1] : undefined);
const out = resolve(opt('--out') ?? 'docs/theory');
const seeds = Number(opt('--seeds') ?? 5);
const draws = Number(opt('--draws') ?? 40000);
const plots = !args.includes('--no-plots');
const o = { seeds, draws };

const KAPPA_12 = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.5, 2, 3, 4];
const KAPPA_34 = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99];
const RATIOS = [0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5];

const t0 = Date.now();
const sweeps: Array<{ r: SweepResult; title: string; logX?: boolean; inScope: (row: SweepRow) => boolean }> = [
  { r: checkTheorem12(1, KAPPA_12, o), title: 'Theorem 1: error after one more epoch, standard vs adversarial', inScope: (row) => row.x < 1 },
  { r: checkTheorem12(2, KAPPA_12, o), title: "Theorem 2: α-poisoned error (n'/n = 0.1, α = 0.5)", inScope: (row) => row.x < 1 },
  { r: checkTheorem2Poison(RATIOS, 0.5, o), title: 'Theorem 2 over the poison ratio (κ = 0.5)', inScope: () => true },
  { r: checkTheorem34(3, KAPPA_34, o), title: 'Theorem 3: one-epoch error reduction and its bounds', inScope: () => true },
  { r: checkTheorem3Snr([0.1, 0.25, 0.5, 1, 2, 4], 0.5, o), title: 'Theorem 3 over ‖ū‖ (σ = 1, n = 50, κ = 0.5)', logX: true, inScope: () => true },
  { r: compareRules(3, [0.1, 0.25, 0.5, 0.75, 0.9], { ...o, params: { d: 4, uBarNorm: 2 } }), title: 'Theorem 3: uniform (APR) vs user-adaptive ε (d = 4, ‖ū‖ = 2)', inScope: () => true },
  { r: { ...checkTheorem34(3, [0, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75], { ...o, k: 2 }), name: 'theorem3-k2' }, title: 'Theorem 3 after k = 2 adversarial epochs (real item dynamics)', inScope: (row) => row.itemPositive === 1 },
  { r: checkTheorem34(4, KAPPA_34, o), title: "Theorem 4: α-poisoned error reduction and its bounds (n'/n = 0.1)", inScope: () => true },
  { r: { ...checkTheorem34(4, KAPPA_34, { ...o, tauNorm: 'l1' }), name: 'theorem4-eps-tau-l1' }, title: "Theorem 4 with τ = 2nn′α‖ū‖₁ (n'/n = 0.1)", inScope: () => true },
  { r: checkTheorem4Poison(RATIOS, 0.5, o), title: 'Theorem 4 over the poison ratio (κ = 0.5, α = 0.5)', inScope: () => true },
];
const seconds = (Date.now() - t0) / 1000;

const f = (x: number): string => (x === 0 ? '0' : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toPrecision(3) : x.toExponential(2));

function table(s: (typeof sweeps)[number]): string {
  const { r } = s;
  const hasSeries = new Set(r.rows.map((x) => x.series)).size > 1;
  const hasItem = r.rows.some((x) => x.itemPositive !== undefined);
  const hasAttain = r.rows.some((x) => x.attain !== undefined) && !hasSeries;
  const head = [r.param, ...(hasSeries ? ['rule'] : []), ...r.columns.map(([, label]) => label), 'holds', 'violations', 'per-user gap min … max', 'mean gap', 'users in precondition', ...(hasAttain ? ['max measured/upper', 'max lower/measured'] : []), ...(hasItem ? ['item stays > 0'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of r.rows) {
    const cells = [
      f(row.x),
      ...(hasSeries ? [row.series] : []),
      ...r.columns.map(([k]) => (row.values[k] ? `${f(row.values[k]!.mean)} ± ${f(row.values[k]!.std)}` : '')),
      row.series && hasSeries && row.series !== 'adaptive' ? '—' : row.holds ? 'yes' : 'NO',
      row.series && hasSeries && row.series !== 'adaptive' ? '—' : String(row.violations),
      Number.isFinite(row.gapMin) ? `${f(row.gapMin)} … ${f(row.gapMax)}` : '—',
      f(row.gapMean),
      `${(100 * row.inCondition).toFixed(0)}%`,
      ...(hasAttain ? [f(row.attain?.upper ?? NaN), f(row.attain?.lower ?? NaN)] : []),
      ...(hasItem ? [row.itemPositive === undefined ? '' : `${(100 * row.itemPositive).toFixed(0)}%`] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

let failed = 0;
const p0 = sweeps[0]!.r.params;
console.log(`Gaussian recommender (defaults): n = ${p0.n}, d = ${p0.d}, σ = ${p0.sigma}, ‖ū‖ = ${p0.uBarNorm}, η = ${p0.eta}, λ = ${p0.lambda}, t = ${p0.t}; ${seeds} seeds × ${draws} draws of v(0); sweeps took ${seconds.toFixed(1)} s\n`);
for (const s of sweeps) {
  const { r } = s;
  console.log(`### ${r.name}: ${s.title}\n\nChecked: ${r.relation}. Values: population mean over the ${r.params.n} genuine users, mean ± std over ${r.seeds} seeds.\n`);
  console.log(table(s));
  console.log('');
  for (const row of r.rows) if (s.inScope(row) && (!row.series || row.series === 'adaptive') && !row.holds) failed++;
}

if (plots) {
  mkdirSync(out, { recursive: true });
  const summary: unknown[] = [];
  for (const s of sweeps) {
    const { r } = s;
    const hasSeries = new Set(r.rows.map((x) => x.series)).size > 1;
    const points = r.rows.flatMap((row) =>
      r.columns
        .filter(([k]) => row.values[k])
        .map(([k, label]) => ({ series: hasSeries ? `${label}, ${row.series}` : label, x: row.x, mean: row.values[k]!.mean, std: row.values[k]!.std, n: row.values[k]!.n })),
    );
    const spec = sweepChart(points, r.param, r.theorem <= 2 ? 'error probability' : 'error reduction per epoch', { title: s.title, logX: s.logX, width: 460, height: 300 });
    const svg = await renderSvg(spec);
    writeFileSync(join(out, `${r.name}.svg`), svg);
    writeFileSync(join(out, `${r.name}.png`), svgToPng(svg, 1));
    summary.push({ name: r.name, theorem: r.theorem, relation: r.relation, param: r.param, params: r.params, seeds: r.seeds, draws: r.draws, rows: r.rows });
  }
  writeFileSync(join(out, 'results.json'), JSON.stringify(summary, null, 1) + '\n');
  console.log(`figures and results.json written to ${out}`);
}
if (failed) {
  console.log(`${failed} sweep point(s) inside the paper's precondition failed`);
  process.exitCode = 1;
}
