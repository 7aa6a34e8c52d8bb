import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeReport } from '../src/artifacts';
import { trainConfigFromProto, resolveTrainConfig } from '@robustrec/models';
import { jobOptionsOf, trainConfigOf } from '../src/runner';
import { expandCells, parseSpec } from '../src/spec';
import { buildReport, pairedTTest, reportToCsv, reportToMarkdown, summarize } from '../src/report';
import type { CellRecord } from '../src/store';

const SPEC = `
name: t
seeds: [1, 2]
datasets:
  - name: Syn
    synthetic: { numUsers: 100 }
attacks:
  - name: Clean
  - name: Random
    generator: random
models:
  - name: MF
    backbone: mf
  - name: PamaCF
    backbone: mf
    defense: pamacf
    params: { rho: 0.3 }
    sweep: { rho: [0.1, 0.5] }
`;

describe('experiment specs', () => {
  it('expands datasets x attacks x model variants x seeds with stable keys', () => {
    const spec = parseSpec(SPEC);
    const cells = expandCells(spec);
    // variants: MF, PamaCF[rho=0.1], PamaCF[rho=0.5] -> 1 x 2 x 3 x 2
    expect(cells).toHaveLength(12);
    expect(new Set(cells.map((c) => c.key)).size).toBe(12);
    expect(cells.filter((c) => c.model.variant === 'PamaCF[rho=0.5]')[0]!.model.params).toEqual({ rho: 0.5 });
    expect(expandCells(parseSpec(SPEC)).map((c) => c.key)).toEqual(cells.map((c) => c.key));
    expect(parseSpec(SPEC).seeds).toEqual([1, 2]);
  });

  it('passes every training option from the train section to the library under the same name, and job options beside it', () => {
    const spec = parseSpec(SPEC.replace('models:', 'train:\n  epochs: 3\n  initStd: 0.05\n  beta2: 0.99\n  l2: 0\n  optimizer: sparse_adam\n  evalEvery: 2\nmodels:'));
    const cell = expandCells(spec).find((c) => c.model.variant === 'MF')!;
    const config = resolveTrainConfig(trainConfigFromProto(trainConfigOf(cell)));
    expect(config).toMatchObject({ epochs: 3, initStd: 0.05, beta2: 0.99, beta1: 0.9, l2: 0, optimizer: 'sparse_adam', seed: 1, dim: 64, backbone: { name: 'mf' }, defense: { name: 'none' } });
    expect(jobOptionsOf(cell)).toEqual({ trainOnValid: false, evalEvery: 2 });
    expect(() => parseSpec(SPEC.replace('models:', 'train:\n  initStd: -1\nmodels:'))).toThrow(/train\.initStd: must be > 0/);
    expect(() => parseSpec(SPEC.replace('models:', 'train:\n  init_std: 0.1\nmodels:'))).toThrow(/train\.init_std: unknown training option \(accepted: epochs, batchSize/);
    expect(() => parseSpec(SPEC.replace('models:', 'train:\n  seed: 3\nmodels:'))).toThrow(/train\.seed/);
    expect(() => parseSpec(SPEC.replace('models:', 'train:\n  optimizer: sgd\nmodels:'))).toThrow(/train\.optimizer/);
  });

  it('names the offending path in errors', () => {
    expect(() => parseSpec(SPEC.replace('rho: [0.1, 0.5]', 'rho: [0.1, "x"]'))).toThrow(/models\[1\]\.sweep\.rho/);
    expect(() => parseSpec(SPEC.replace('backbone: mf\n  - name: PamaCF', 'bb: mf\n  - name: PamaCF'))).toThrow(/models\[0\]\.backbone/);
    expect(() => parseSpec('name: x\ndatasets: []')).toThrow(/datasets: must be a non-empty list/);
    expect(() => parseSpec(SPEC.replace('synthetic: { numUsers: 100 }', 'synthetic: {}\n    lightgcn: x'))).toThrow(/exactly one of/);
  });
});

function cell(variant: string, attack: string, seed: number, metrics: Record<string, number>): CellRecord {
  return {
    specName: 't', key: `${variant}${attack}${seed}`, dataset: 'Syn', attack, model: variant.split('[')[0]!, variant, sweepParam: '', sweepValue: null, seed,
    state: 'done', datasetId: 'd', jobId: 'j', modelId: 'm', evaluationId: 'e', metrics, config: {}, versions: {}, error: '', errorCode: '', seconds: 1, finishedAt: '',
  };
}

describe('reports', () => {
  it('tests each Gain for significance: a paired t-test over the seeds both models ran (p as scipy.stats.ttest_rel gives)', () => {
    expect(pairedTTest([[1, 0.5], [2, 1.9], [3, 2.2], [4, 3.1]])).toBeCloseTo(0.04933945306268686, 10);
    expect(pairedTTest([[1, 0.5], [2, 1.9]])).toBeUndefined(); // under 3 pairs: no test
    expect(pairedTTest([[1, 1], [2, 2], [3, 3]])).toBe(1);
    // the grid's Random T-HR@50, PamaCF vs APR over seeds 2024-2026 (results/gowalla-paper)
    const spec = parseSpec(SPEC.replace(/\n    sweep:.*\n/, '\n').replace('  - name: PamaCF', '  - name: APR\n    backbone: mf\n    defense: apr\n  - name: PamaCF').replace('seeds: [1, 2]', 'seeds: [1, 2, 3]'));
    const grid: Array<[string, number, number]> = [
      ['MF', 1, 0.00915974269632806], ['MF', 2, 0.00816805146073439], ['MF', 3, 0.00839587242026266],
      ['APR', 1, 0.0064526936478156], ['APR', 2, 0.00581613508442777], ['APR', 3, 0.00522648083623693],
      ['PamaCF', 1, 0.00493165371214152], ['PamaCF', 2, 0.00440900562851782], ['PamaCF', 3, 0.00418788528544626],
    ];
    const cells = grid.flatMap(([m, seed, thr]) => [cell(m, 'Random', seed, { 'recall@20': 0.14, 'ndcg@20': 0.12, 't_hr@50': thr, 't_ndcg@50': thr / 4 }), cell(m, 'Clean', seed, { 'recall@20': 0.14, 'ndcg@20': 0.12 })]);
    const r = buildReport(spec, cells);
    const gain = r.table2[0]!.gains.find((g) => g.label === 'Gain')!;
    expect(gain.p[0]).toBeCloseTo(0.01190780544305127, 8); // against APR, the best other model
    const md = reportToMarkdown(r);
    expect(md).toMatch(/\| Gain \| \+22\.67% \* \(p=0\.012\) \|/);
    expect(md).toContain('Gain cells: paired t-test over seeds, two-sided, against the model the gain is measured against; * marks p < 0.05.');
    // identical Clean numbers: the gain is 0 and not significant
    expect(reportToMarkdown(r)).toMatch(/\| Gain \| \+0\.00% \(p=1\.000\)/);
  });

  it('summarizes in plain sentences: the most robust model, by how much, and its accuracy cost', () => {
    const spec = parseSpec(SPEC.replace(/\n    sweep:.*\n/, '\n').replace('  - name: PamaCF', '  - name: APR\n    backbone: mf\n    defense: apr\n  - name: PamaCF').replace('seeds: [1, 2]', 'seeds: [1]'));
    const base = [
      cell('MF', 'Clean', 1, { 'recall@20': 0.12, 'ndcg@20': 0.1 }),
      cell('APR', 'Clean', 1, { 'recall@20': 0.14, 'ndcg@20': 0.12 }),
      cell('PamaCF', 'Clean', 1, { 'recall@20': 0.143, 'ndcg@20': 0.121 }),
      cell('MF', 'Random', 1, { 'recall@20': 0.12, 'ndcg@20': 0.1, 't_hr@50': 0.008, 't_ndcg@50': 0.002 }),
      cell('APR', 'Random', 1, { 'recall@20': 0.14, 'ndcg@20': 0.12, 't_hr@50': 0.006, 't_ndcg@50': 0.0015 }),
    ];
    const s = summarize(buildReport(spec, [...base, cell('PamaCF', 'Random', 1, { 'recall@20': 0.143, 'ndcg@20': 0.121, 't_hr@50': 0.004, 't_ndcg@50': 0.001 })]));
    expect(s[0]).toBe(
      'PamaCF is the most robust on Syn: under Random its T-HR@50 (how often the attackers\' target items reach a user\'s top list) averages 0.40%, against APR (0.60%, 33% lower) and MF (0.80%, 50% lower).',
    );
    expect(s[1]).toBe("On Clean data its Recall@20 is 14.30%, against APR's 14.00% and MF's 12.00%: its robustness costs no accuracy.");
    expect(s[2]).toMatch(/one seed per cell/);
    // a winner that is not the most accurate is reported with its cost; a missing cell is not ranked
    const apr = summarize(buildReport(spec, [...base, cell('PamaCF', 'Random', 1, { 'recall@20': 0.143, 'ndcg@20': 0.121, 't_hr@50': 0.007, 't_ndcg@50': 0.001 })]));
    expect(apr[0]).toMatch(/^APR is the most robust/);
    expect(apr[1]).toContain('it gives up accuracy against PamaCF');
    const tie = summarize(buildReport(spec, [...base, cell('PamaCF', 'Random', 1, { 'recall@20': 0.143, 'ndcg@20': 0.121, 't_hr@50': 0.006, 't_ndcg@50': 0.001 })]));
    expect(tie[0]).toBe("APR and PamaCF tie as the most robust on Syn: under Random their T-HR@50 averages 0.60%, against MF (0.80%).");
    expect(summarize(buildReport(spec, base))[0]).toMatch(/^APR is the most robust on Syn: .* against MF \(0\.80%, 25% lower\)\.$/);
  });


  it('computes mean ± std over seeds and gain rows like the paper', () => {
    const spec = parseSpec(SPEC.replace(/\n    sweep:.*\n/, '\n'));
    const cells = [
      cell('MF', 'Clean', 1, { 'recall@20': 0.10, 'ndcg@20': 0.05 }),
      cell('MF', 'Clean', 2, { 'recall@20': 0.12, 'ndcg@20': 0.07 }),
      cell('PamaCF', 'Clean', 1, { 'recall@20': 0.13, 'ndcg@20': 0.08 }),
      cell('PamaCF', 'Clean', 2, { 'recall@20': 0.13, 'ndcg@20': 0.08 }),
      cell('MF', 'Random', 1, { 'recall@20': 0.1, 'ndcg@20': 0.05, 't_hr@50': 0.004, 't_ndcg@50': 0.001 }),
      cell('PamaCF', 'Random', 1, { 'recall@20': 0.13, 'ndcg@20': 0.08, 't_hr@50': 0.001, 't_ndcg@50': 0.0005 }),
    ];
    const r = buildReport(spec, cells);
    const t1 = r.table1[0]!;
    const mf = t1.rows.find((x) => x.model === 'MF')!;
    expect(mf.cells[0]!.mean).toBeCloseTo(0.11, 10);
    expect(mf.cells[0]!.std).toBeCloseTo(Math.sqrt(0.0002), 10); // sample std of 0.10, 0.12
    // Gain of PamaCF over the best other model (MF) on Clean recall: (0.13 - 0.11) / 0.11
    expect(t1.gains[0]!.values[0]).toBeCloseTo(0.02 / 0.11, 10);
    // Table 2 is lower-is-better: (0.004 - 0.001) / 0.004
    expect(r.table2[0]!.gains[0]!.values[0]).toBeCloseTo(0.75, 10);
    const md = reportToMarkdown(r);
    expect(md).toContain('| MF | 11.00 ± 1.41 | 6.00 ± 1.41 |');
    expect(md).toContain('+75.00%');
    expect(reportToCsv(r).split('\n')[0]).toBe('table,dataset,model,attack,metric,mean,std,n');
  });

  it('keeps failed models visible: Gain only against baselines present in the column, std only over >= 2 seeds', () => {
    const spec = parseSpec(SPEC.replace(/\n    sweep:.*\n/, '\n').replace('  - name: PamaCF', '  - name: APR\n    backbone: mf\n    defense: apr\n  - name: PamaCF').replace('seeds: [1, 2]', 'seeds: [1]'));
    const failed = { ...cell('APR', 'Clean', 1, {}), state: 'failed' as const, error: 'training job j ended JOB_STATE_FAILED: boom' };
    const cells = [
      cell('MF', 'Clean', 1, { 'recall@20': 0.1, 'ndcg@20': 0.05 }),
      failed,
      cell('PamaCF', 'Clean', 1, { 'recall@20': 0.2, 'ndcg@20': 0.1 }),
      cell('MF', 'Random', 1, { 'recall@20': 0.1, 'ndcg@20': 0.05, 't_hr@50': 0.004, 't_ndcg@50': 0.002 }),
      cell('APR', 'Random', 1, { 'recall@20': 0.15, 'ndcg@20': 0.06, 't_hr@50': 0.002, 't_ndcg@50': 0.001 }),
      cell('PamaCF', 'Random', 1, { 'recall@20': 0.16, 'ndcg@20': 0.07, 't_hr@50': 0.001, 't_ndcg@50': 0.0005 }),
    ];
    const r = buildReport(spec, cells);
    const t1 = r.table1[0]!;
    // the APR row stays, in spec order, and says its Clean cells failed
    expect(t1.rows.map((x) => x.model)).toEqual(['MF', 'APR', 'PamaCF']);
    const gain = t1.gains.find((g) => g.label === 'Gain')!;
    // Clean: APR missing, so no gain over "the best other model" (it would silently be MF's)
    expect(gain.values.slice(0, 2)).toEqual([undefined, undefined]);
    expect(gain.notes[0]).toBe('n/a: APR missing');
    // Random: every baseline present; best other is APR (0.15)
    expect(gain.values[2]).toBeCloseTo(0.01 / 0.15, 10);
    // w.r.t. MF: present in every column
    expect(t1.gains[1]!.values[0]).toBeCloseTo(1, 10);
    const md = reportToMarkdown(r);
    expect(md).toContain('| APR | failed | failed | 15.00 | 6.00 |');
    expect(md).toContain('| Gain | n/a: APR missing | n/a: APR missing | +6.67% |');
    expect(md).not.toContain('±');
    expect(md).toContain('One seed per cell (no std)');
    // two seeds in one cell, one in the others: std only where n >= 2, and that cell says its n
    const two = buildReport({ ...spec, seeds: [1, 2] }, [...cells, cell('MF', 'Clean', 2, { 'recall@20': 0.12, 'ndcg@20': 0.07 })]);
    const md2 = reportToMarkdown(two);
    expect(md2).toContain('| MF | 11.00 ± 1.41 (n=2) | 6.00 ± 1.41 (n=2) | 10.00 | 5.00 |');
    expect(two.table1[0]!.seeds).toBe(1);
  });

  it('draws attack success and accuracy vs robustness per dataset from the tables, SVG + PNG', async () => {
    const spec = parseSpec(SPEC.replace(/\n    sweep:.*\n/, '\n').replace('  - name: PamaCF', '  - name: APR\n    backbone: mf\n    defense: apr\n  - name: PamaCF').replace('seeds: [1, 2]', 'seeds: [1, 2, 3]'));
    const thr: Record<string, number[]> = { MF: [0.0092, 0.0082, 0.0084], APR: [0.0065, 0.0058, 0.0052], PamaCF: [0.0049, 0.0044, 0.0042] };
    const cells = Object.entries(thr).flatMap(([m, v]) => v.flatMap((t, i) => [cell(m, 'Random', i + 1, { 'recall@20': 0.12 + (m === 'MF' ? 0 : 0.02), 't_hr@50': t, 'ndcg@20': 0.1, 't_ndcg@50': t / 4 }), cell(m, 'Clean', i + 1, { 'recall@20': 0.125, 'ndcg@20': 0.1 })]));
    const out = mkdtempSync(join(tmpdir(), 'rr-report-'));
    const { files } = await writeReport(spec, cells, out);
    expect(readdirSync(out).sort()).toEqual(['accuracy-robustness-Syn.png', 'accuracy-robustness-Syn.svg', 'attack-success-Syn.png', 'attack-success-Syn.svg', 'report.csv', 'report.json', 'report.md']);
    expect(files).toHaveLength(7);
    const labels = (svg: string, role: string): string[] => [...svg.matchAll(new RegExp(`aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="${role}"`, 'g'))].map((m) => m[1]!);
    // Table 2's first metric in %, mean ± std over the three seeds
    const success = readFileSync(join(out, 'attack-success-Syn.svg'), 'utf8');
    expect(labels(success, 'bar')).toEqual(['model: MF; attack: Random; mean: 0.86; std: 0.05292; n: 3', 'model: APR; attack: Random; mean: 0.5833; std: 0.06506; n: 3', 'model: PamaCF; attack: Random; mean: 0.45; std: 0.03606; n: 3']);
    expect(labels(success, 'errorbar')).toHaveLength(3);
    expect(success.includes("Y-axis titled 'T-HR@50 (%), lower is more robust'")).toBe(true);
    // Recall@20 under the attack against T-HR@50, one point per model × attack
    const tradeOff = readFileSync(join(out, 'accuracy-robustness-Syn.svg'), 'utf8');
    expect(labels(tradeOff, 'point')).toEqual(['model: MF; attack: Random; recall: 12; target: 0.86', 'model: APR; attack: Random; recall: 14; target: 0.5833', 'model: PamaCF; attack: Random; recall: 14; target: 0.45']);
    const png = readFileSync(join(out, 'attack-success-Syn.png'));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const [w, h] = success.match(/<svg\b[^>]*\bwidth="(\d+)" height="(\d+)"/)!.slice(1).map(Number);
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([w! * 2, h! * 2]);
  });

  it('writes tables and one SVG + PNG per swept metric', async () => {
    const spec = parseSpec(SPEC);
    const swept = (attack: string, rho: number, seed: number, r: number, t: number): CellRecord => ({ ...cell(`PamaCF[rho=${rho}]`, attack, seed, { 'recall@20': r, 't_hr@50': t }), sweepParam: 'rho', sweepValue: rho });
    const cells = [swept('Clean', 0.1, 1, 0.12, 0), swept('Clean', 0.5, 1, 0.13, 0), swept('Random', 0.1, 1, 0.11, 0.004), swept('Random', 0.5, 1, 0.12, 0.002)];
    const out = mkdtempSync(join(tmpdir(), 'rr-report-'));
    await writeReport(spec, cells, out);
    const names = readdirSync(out).sort();
    expect(names).toEqual([
      'accuracy-robustness-Syn.png', 'accuracy-robustness-Syn.svg', 'attack-success-Syn.png', 'attack-success-Syn.svg',
      'report.csv', 'report.json', 'report.md', 'sweep-PamaCF-rho-recall20.png', 'sweep-PamaCF-rho-recall20.svg', 'sweep-PamaCF-rho-t_hr50.png', 'sweep-PamaCF-rho-t_hr50.svg',
    ]);
    const sweep = readFileSync(join(out, 'sweep-PamaCF-rho-t_hr50.svg'), 'utf8');
    // one point per attack × rho, in %, on a linear rho axis
    expect([...sweep.matchAll(/aria-label="(series: [^"]*)"/g)].map((m) => m[1])).toEqual(['series: Clean; x: 0.1; mean: 0; std: 0; n: 1', 'series: Clean; x: 0.5; mean: 0; std: 0; n: 1', 'series: Random; x: 0.1; mean: 0.4; std: 0; n: 1', 'series: Random; x: 0.5; mean: 0.2; std: 0; n: 1']);
    expect(sweep.includes("X-axis titled 'rho' for a linear scale")).toBe(true);
    // only variants of the proposed model: nothing to gain over, so no Gain rows
    const r = buildReport(spec, cells);
    expect(r.table1[0]!.rows.map((x) => x.model)).toEqual(['PamaCF[rho=0.1]', 'PamaCF[rho=0.5]']);
    expect(r.table1[0]!.gains).toEqual([]);
    // with MF beside the sweep: the Gain row is the first variant's, over MF
    const withMf = buildReport(spec, [cell('MF', 'Clean', 1, { 'recall@20': 0.1 }), ...cells]);
    expect(withMf.table1[0]!.gains[0]!.values[0]).toBeCloseTo(0.2, 10); // (0.12 - 0.10) / 0.10
  });
});
