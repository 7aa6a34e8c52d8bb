import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluator } from '@robustrec/contracts';
import { downloadModel } from '@robustrec/grpc';
import { reportedMetrics } from '@robustrec/metrics';
import { buildReport, reportToCsv, reportToMarkdown, stat, type Report } from './report';
import { histogramChart, lineChart, svgToPng, type Series } from './plots';
import type { ExperimentSpec } from './spec';
import type { CellRecord } from './store';

/**
 * Writes a spec's report artifacts: report.md / report.csv / report.json, one SVG + PNG per
 * swept parameter (Figure 3 style) and, when an evaluator address is given, the
 * per-user perturbation-magnitude histogram of the defended models (Figure 2b).
 */
export async function writeReport(spec: ExperimentSpec, cells: CellRecord[], outDir: string, evaluatorAddress?: string): Promise<{ report: Report; files: string[] }> {
  mkdirSync(outDir, { recursive: true });
  const report = buildReport(spec, cells);
  const files: string[] = [];
  const put = (name: string, content: string | Buffer): void => {
    writeFileSync(join(outDir, name), content);
    files.push(join(outDir, name));
  };
  // Every chart is written twice: SVG (exact, scalable) and PNG (for viewers without SVG).
  const chart = (name: string, svg: string): void => {
    put(`${name}.svg`, svg);
    put(`${name}.png`, svgToPng(svg));
  };
  put('report.md', reportToMarkdown(report));
  put('report.csv', reportToCsv(report));
  put('report.json', JSON.stringify({ report, cells }, null, 2));

  // Sweeps: x = parameter value, one series per attack (the first metric of each table: recall@20 and t_hr@50).
  const swept = cells.filter((c) => c.state === 'done' && c.sweepParam);
  for (const model of [...new Set(swept.map((c) => c.model))]) {
    for (const param of [...new Set(swept.filter((c) => c.model === model).map((c) => c.sweepParam))]) {
      const mine = swept.filter((c) => c.model === model && c.sweepParam === param);
      for (const metric of [reportedMetrics('user')[0]!, reportedMetrics('target')[0]!]) {
        const series: Series[] = [...new Set(mine.map((c) => c.attack))]
          .map((a) => ({
            name: a,
            points: [...new Set(mine.filter((c) => c.attack === a).map((c) => c.sweepValue!))].flatMap((x) => {
              const s = stat(mine.filter((c) => c.attack === a && c.sweepValue === x && c.metrics[metric] !== undefined).map((c) => c.metrics[metric]!));
              return s ? [{ x, y: s.mean, err: s.std }] : [];
            }),
          }))
          .filter((s) => s.points.length);
        if (series.length) chart(`sweep-${model}-${param}-${metric.replace('@', '')}`.replace(/[^\w.-]+/g, '_'), lineChart(`${model}: ${metric} vs ${param}`, param, metric, series));
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
    if (samples.length) chart('perturbation-magnitudes', histogramChart('Per-user perturbation magnitude (last epoch)', 'magnitude', samples));
  }
  return { report, files };
}
