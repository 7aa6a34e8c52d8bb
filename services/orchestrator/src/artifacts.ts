import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluator } from '@robustrec/contracts';
import { downloadModel } from '@robustrec/grpc';
import type { ChartSpec } from '@robustrec/charts';
import { metricLabel, reportedMetrics } from '@robustrec/metrics';
import { buildReport, reportToCsv, reportToMarkdown, stat, type Report, type TableBlock } from './report';
import type { ExperimentSpec } from './spec';
import type { CellRecord } from './store';

/** A file name from a figure's parts: "sweep-PamaCF-rho-recall20", "attack-success-Gowalla". */
const fileName = (...parts: string[]): string => parts.join('-').replace(/@/g, '').replace(/[^\w.-]+/g, '_');

/**
 * Writes a spec's report artifacts: report.md / report.csv / report.json and, as SVG + PNG
 * (Vega-Lite specs of @robustrec/charts): per dataset, the attack success of every model under
 * every attack (Table 2's first metric, mean ± std over seeds) and accuracy against robustness
 * (Table 1's first metric against Table 2's, one point per model × attack); one chart per swept
 * parameter and metric (Figure 3 style); and, when an evaluator address is given, the per-user
 * perturbation-magnitude histogram of the defended models (Figure 2b).
 */
export async function writeReport(spec: ExperimentSpec, cells: CellRecord[], outDir: string, evaluatorAddress?: string): Promise<{ report: Report; files: string[] }> {
  // loaded here, not at start-up: Vega takes about a second to load, which the CLI's other commands need not pay
  const { accuracyRobustnessChart, attackSuccessChart, binSamples, histogramChart, renderSvg, svgToPng, sweepChart } = await import('@robustrec/charts');
  mkdirSync(outDir, { recursive: true });
  const report = buildReport(spec, cells);
  const files: string[] = [];
  const put = (name: string, content: string | Buffer): void => {
    writeFileSync(join(outDir, name), content);
    files.push(join(outDir, name));
  };
  // Every chart is written twice: SVG (exact, scalable, with aria labels) and PNG (for viewers without SVG).
  const chart = async (name: string, chartSpec: ChartSpec): Promise<void> => {
    const svg = await renderSvg(chartSpec);
    put(`${name}.svg`, svg);
    put(`${name}.png`, svgToPng(svg));
  };
  put('report.md', reportToMarkdown(report));
  put('report.csv', reportToCsv(report));
  put('report.json', JSON.stringify({ report, cells }, null, 2));

  // Attack success and accuracy vs robustness, per dataset, from the tables (values in %).
  const cellOf = (b: TableBlock | undefined, model: string, attack: string, metric: string): { mean: number; std: number; n: number } | undefined => {
    const j = b?.columns.findIndex((c) => c.attack === attack && c.metric === metric) ?? -1;
    return j < 0 ? undefined : b!.rows.find((r) => r.model === model)?.cells[j];
  };
  const recallMetric = reportedMetrics('user')[0]!;
  for (const t2 of report.table2) {
    const metric = t2.columns[0]?.metric;
    if (!metric) continue;
    const attacks = [...new Set(t2.columns.map((c) => c.attack))];
    const success = t2.rows.flatMap((r) =>
      attacks.flatMap((attack) => {
        const s = cellOf(t2, r.model, attack, metric);
        return s ? [{ model: r.model, attack, mean: s.mean * 100, std: s.std * 100, n: s.n }] : [];
      }),
    );
    if (success.length) {
      const seeds = t2.seeds > 1 ? `mean ± std, ${t2.seeds} seeds` : 'one seed';
      await chart(fileName('attack-success', t2.dataset), attackSuccessChart(success, `${metricLabel(metric)} (%), lower is more robust`, { title: `${t2.dataset}: attack success (${seeds})` }));
    }
    const t1 = report.table1.find((b) => b.dataset === t2.dataset);
    const tradeOff = t2.rows.flatMap((r) =>
      attacks.flatMap((attack) => {
        const target = cellOf(t2, r.model, attack, metric);
        const recall = cellOf(t1, r.model, attack, recallMetric);
        return target && recall ? [{ model: r.model, attack, recall: recall.mean * 100, target: target.mean * 100 }] : [];
      }),
    );
    if (tradeOff.length) {
      await chart(fileName('accuracy-robustness', t2.dataset), accuracyRobustnessChart(tradeOff, metricLabel(recallMetric), metricLabel(metric), { title: `${t2.dataset}: accuracy vs robustness (lower right is better)` }));
    }
  }

  // Sweeps: x = parameter value, one series per attack (the first metric of each table: recall@20 and t_hr@50), in %.
  const swept = cells.filter((c) => c.state === 'done' && c.sweepParam);
  for (const model of [...new Set(swept.map((c) => c.model))]) {
    for (const param of [...new Set(swept.filter((c) => c.model === model).map((c) => c.sweepParam))]) {
      const mine = swept.filter((c) => c.model === model && c.sweepParam === param);
      for (const metric of [reportedMetrics('user')[0]!, reportedMetrics('target')[0]!]) {
        const points = [...new Set(mine.map((c) => c.attack))].flatMap((attack) =>
          [...new Set(mine.filter((c) => c.attack === attack).map((c) => c.sweepValue!))].flatMap((x) => {
            const s = stat(mine.filter((c) => c.attack === attack && c.sweepValue === x && c.metrics[metric] !== undefined).map((c) => c.metrics[metric]!));
            return s ? [{ series: attack, x, mean: s.mean * 100, std: s.std * 100, n: s.n }] : [];
          }),
        );
        if (!points.length) continue;
        // a log axis for sweeps over orders of magnitude (lambda 0.01 … 10), linear otherwise (rho 0.1 … 0.9)
        const xs = points.map((p) => p.x);
        const lo = xs.reduce((a, b) => Math.min(a, b)), hi = xs.reduce((a, b) => Math.max(a, b));
        const logX = lo > 0 && hi / lo >= 100;
        await chart(fileName('sweep', model, param, metric), sweepChart(points, param, `${metricLabel(metric)} (%)`, { title: `${model}: ${metricLabel(metric)} vs ${param}`, logX, seriesTitle: 'Attack' }));
      }
    }
  }

  // Figure 2b: perturbation magnitudes of the last epoch, one model per defended variant (first seed, clean data).
  if (evaluatorAddress) {
    const samples: Array<{ name: string; values: Float32Array }> = [];
    const seen = new Set<string>();
    for (const c of cells) {
      if (c.state !== 'done' || !c.modelId || seen.has(c.variant) || c.sweepParam) continue;
      seen.add(c.variant);
      try {
        const m = await downloadModel(evaluatorAddress, { id: c.modelId, name: '', version: 0 } satisfies evaluator.ModelRef);
        const mag = m.tensors.perturbation_magnitude;
        if (mag && mag.some((v) => v > 0)) samples.push({ name: c.variant, values: mag.filter((v) => v > 0) });
      } catch {
        /* models evaluated elsewhere may not be downloadable; the histogram is optional */
      }
    }
    const bins = binSamples(samples, 40);
    if (bins.length) await chart('perturbation-magnitudes', histogramChart(bins, 'magnitude', { title: 'Per-user perturbation magnitude (last epoch)', yTitle: 'fraction of users' }));
  }
  return { report, files };
}
