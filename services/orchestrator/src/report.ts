import { poisons, type ExperimentSpec } from './spec';
import type { CellRecord } from './store';

/**
 * Paper-style tables from stored cells: Table 1 (Recall@20 / NDCG@20 per attack, mean ±
 * std over seeds, in %) and Table 2 (T-HR@50 / T-NDCG@50 per attack), with "Gain" rows
 * (the proposed model vs. the best other baseline) and "Gain w.r.t. <backbone>" rows.
 */
export interface Stat {
  mean: number;
  std: number;
  n: number;
}

export interface TableBlock {
  dataset: string;
  columns: Array<{ attack: string; metric: string }>;
  rows: Array<{ model: string; cells: Array<Stat | undefined> }>;
  gains: Array<{ label: string; values: Array<number | undefined> }>;
}

export interface Report {
  spec: string;
  table1: TableBlock[];
  table2: TableBlock[];
  cells: { done: number; failed: number; pending: number };
}

export function stat(xs: number[]): Stat | undefined {
  if (!xs.length) return undefined;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std, n: xs.length };
}

const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];

function block(
  spec: ExperimentSpec,
  cells: CellRecord[],
  dataset: string,
  attacks: string[],
  metrics: string[],
  higherIsBetter: boolean,
): TableBlock {
  const mine = cells.filter((c) => c.dataset === dataset && c.state === 'done');
  const models = uniq(mine.map((c) => c.variant));
  const columns = attacks.flatMap((attack) => metrics.map((metric) => ({ attack, metric })));
  const rows = models.map((model) => ({
    model,
    cells: columns.map(({ attack, metric }) =>
      stat(mine.filter((c) => c.variant === model && c.attack === attack && c.metrics[metric] !== undefined).map((c) => c.metrics[metric]!)),
    ),
  }));
  // The proposed model is the spec's last model (a swept one: its first variant); it is
  // compared with the other models, never with its own variants, so a sweep-only spec has no
  // Gain rows. The backbone row is the first model without a defense.
  const proposedName = spec.models.at(-1)?.name ?? '';
  const isProposed = (m: string): boolean => m === proposedName || m.startsWith(`${proposedName}[`);
  const proposed = rows.find((r) => r.model === proposedName) ?? rows.find((r) => isProposed(r.model));
  const backboneName = spec.models.find((m) => !m.defense || m.defense === 'none')?.name;
  const backbone = rows.find((r) => r.model === backboneName);
  const gains: TableBlock['gains'] = [];
  const others = rows.filter((r) => !isProposed(r.model));
  if (proposed && others.length) {
    const rel = (p: number, b: number): number => (higherIsBetter ? (p - b) / b : (b - p) / b);
    gains.push({
      label: 'Gain',
      values: columns.map((_, j) => {
        const p = proposed.cells[j]?.mean;
        const vals = others.map((r) => r.cells[j]?.mean).filter((v): v is number => v !== undefined);
        if (p === undefined || !vals.length) return undefined;
        const best = higherIsBetter ? Math.max(...vals) : Math.min(...vals);
        return best === 0 ? undefined : rel(p, best);
      }),
    });
    if (backbone && backbone !== proposed)
      gains.push({
        label: `Gain w.r.t. ${backbone.model}`,
        values: columns.map((_, j) => {
          const p = proposed.cells[j]?.mean;
          const b = backbone.cells[j]?.mean;
          return p === undefined || b === undefined || b === 0 ? undefined : rel(p, b);
        }),
      });
  }
  return { dataset, columns, rows, gains };
}

export function buildReport(spec: ExperimentSpec, cells: CellRecord[]): Report {
  const datasets = uniq(cells.map((c) => c.dataset));
  const attacks = spec.attacks.map((a) => a.name);
  // Table 2 columns: attacks, plus clean entries that name targets to measure T-HR on.
  const attacked = spec.attacks.filter((a) => poisons(a) || a.targets?.length).map((a) => a.name);
  return {
    spec: spec.name,
    table1: datasets.map((d) => block(spec, cells, d, attacks, ['recall@20', 'ndcg@20'], true)),
    table2: attacked.length ? datasets.map((d) => block(spec, cells, d, attacked, ['t_hr@50', 't_ndcg@50'], false)) : [],
    cells: {
      done: cells.filter((c) => c.state === 'done').length,
      failed: cells.filter((c) => c.state === 'failed').length,
      pending: cells.filter((c) => c.state !== 'done' && c.state !== 'failed').length,
    },
  };
}

const pct = (s: Stat | undefined, digits: number): string => (s ? `${(s.mean * 100).toFixed(digits)} ± ${(s.std * 100).toFixed(digits)}` : '–');
const gainText = (g: number | undefined): string => (g === undefined ? '–' : `${g >= 0 ? '+' : ''}${(g * 100).toFixed(2)}%`);
const label = (m: string): string => ({ 'recall@20': 'Recall@20', 'ndcg@20': 'NDCG@20', 't_hr@50': 'T-HR@50', 't_ndcg@50': 'T-NDCG@50' })[m] ?? m;

export function blockToMarkdown(b: TableBlock, digits: number): string {
  const head = ['Model', ...b.columns.map((c) => `${c.attack} ${label(c.metric)} (%)`)];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of b.rows) lines.push(`| ${r.model} | ${r.cells.map((s) => pct(s, digits)).join(' | ')} |`);
  for (const g of b.gains) lines.push(`| ${g.label} | ${g.values.map(gainText).join(' | ')} |`);
  return lines.join('\n');
}

export function reportToMarkdown(r: Report): string {
  const out = [`# Experiment ${r.spec}`, '', `Cells: ${r.cells.done} done, ${r.cells.failed} failed, ${r.cells.pending} pending.`, ''];
  for (const b of r.table1) out.push(`## Table 1: recommendation performance (${b.dataset})`, '', blockToMarkdown(b, 2), '');
  for (const b of r.table2) out.push(`## Table 2: robustness against target-item promotion (${b.dataset}; lower is better)`, '', blockToMarkdown(b, 3), '');
  return out.join('\n');
}

export function reportToCsv(r: Report): string {
  const lines = ['table,dataset,model,attack,metric,mean,std,n'];
  const add = (t: string, blocks: TableBlock[]): void => {
    for (const b of blocks)
      for (const row of b.rows)
        b.columns.forEach((c, j) => {
          const s = row.cells[j];
          if (s) lines.push([t, b.dataset, JSON.stringify(row.model), c.attack, c.metric, s.mean, s.std, s.n].join(','));
        });
  };
  add('table1', r.table1);
  add('table2', r.table2);
  return lines.join('\n') + '\n';
}
