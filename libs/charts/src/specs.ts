import type { Config, TopLevelSpec } from 'vega-lite';

/**
 * The one chart grammar of RobustRec: every figure is a Vega-Lite spec built here, with its data
 * inline, so the same object renders in the browser (vega-embed) and headless in Node
 * (./render.ts: SVG, then PNG). Pure and browser-safe: no Node module and no Vega runtime here.
 *
 * Every spec has the Vega-Lite v6 `$schema`, inline `data.values`, tooltips, axis titles, a
 * `description` (the SVG's aria description) and a white background. Accessibility labels: each
 * data mark (one per input row: a bar, a point) carries `aria-label="field: value; ..."` with the
 * fields of its input row, in the order of the row's type (numbers to 4 significant digits), so a
 * test or a screen reader can read the data back; helper marks (lines, bands) are aria-hidden,
 * except error bars, labelled "model: …; attack: …; mean ± std: m ± s" with role "errorbar".
 */
export type ChartSpec = TopLevelSpec;

export interface ChartOptions {
  title?: string;
  width?: number;
  height?: number;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** The spec fields every chart shares. */
function frame(description: string, opts: ChartOptions | undefined, width: number, height: number): { $schema: string; description: string; background: string; title?: string; width: number; height: number; config: Config } {
  return {
    $schema: SCHEMA,
    description,
    background: 'white',
    ...(opts?.title ? { title: opts.title } : {}),
    width: opts?.width ?? width,
    height: opts?.height ?? height,
    config: { axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 240 } },
  };
}

/** The description channel: a mark's aria-label is the `__label` field that labelExpr computes. */
const DESCRIBED = { field: '__label' } as const;

/**
 * A Vega expression that writes `name: value; ...` for a mark's aria-label: integers as they are,
 * other numbers to 4 significant digits (1 decimal from 1000 on), missing values as "n/a".
 */
function num(value: string): string {
  return `(!isValid(${value}) ? 'n/a' : ${value} % 1 === 0 ? '' + ${value} : replace(format(${value}, abs(${value}) >= 1000 ? '.1f' : '.4~r'), '\u2212', '-'))`;
}
function labelExpr(fields: Array<[name: string, kind: 'text' | 'number']>): string {
  return fields
    .map(([name, kind]) => {
      const value = `datum[${JSON.stringify(name)}]`;
      return `${JSON.stringify(`${name}: `)} + ${kind === 'number' ? num(value) : value}`;
    })
    .join(` + '; ' + `);
}

/** Distinct values in order of first appearance (axis and legend order as given). */
function distinct<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

/** Copies of the rows: Vega tags the objects it ingests, and the caller's stay untouched. */
const clean = <T extends object>(rows: T[]): T[] => rows.map((r) => ({ ...r }));

/**
 * Attack success per model and attack: grouped bars (x = attack, xOffset/colour = model) with
 * mean ± std error bars (drawn where n > 1); n in the tooltip. `metric` is the y-axis title,
 * values are drawn as given (pass percentages with a "(%)" title for the report's unit).
 */
export function attackSuccessChart(rows: Array<{ model: string; attack: string; mean: number; std: number; n: number }>, metric: string, opts?: ChartOptions): ChartSpec {
  const attacks = distinct(rows.map((r) => r.attack));
  const models = distinct(rows.map((r) => r.model));
  // bars and error bars share one tooltip: the cell's mean, std and seed count
  const tooltip = [
    { field: 'model', type: 'nominal' as const, title: 'model' },
    { field: 'attack', type: 'nominal' as const, title: 'attack' },
    { field: 'mean', type: 'quantitative' as const, title: 'mean', format: '.4~r' },
    { field: 'std', type: 'quantitative' as const, title: 'std', format: '.4~r' },
    { field: 'n', type: 'quantitative' as const, title: 'n' },
  ];
  return {
    ...frame(`${metric} per model and attack: grouped bars of the mean over seeds with ± std error bars (${models.join(', ')} under ${attacks.join(', ')}).`, opts, Math.max(320, attacks.length * (models.length * 22 + 16)), 300),
    data: { values: clean(rows) },
    transform: [
      { calculate: 'datum.mean - datum.std', as: '__lo' },
      { calculate: 'datum.mean + datum.std', as: '__hi' },
    ],
    encoding: {
      x: { field: 'attack', type: 'nominal', sort: attacks, title: 'Attack', axis: { labelAngle: 0 } },
      xOffset: { field: 'model', type: 'nominal', sort: models },
    },
    layer: [
      {
        transform: [{ calculate: labelExpr([['model', 'text'], ['attack', 'text'], ['mean', 'number'], ['std', 'number'], ['n', 'number']]), as: '__label' }],
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'mean', type: 'quantitative', title: metric },
          color: { field: 'model', type: 'nominal', sort: models, scale: { domain: models }, title: 'Model' },
          tooltip,
          description: DESCRIBED,
        },
      },
      {
        transform: [
          { filter: 'datum.n > 1' },
          { calculate: `${labelExpr([['model', 'text'], ['attack', 'text']])} + '; mean ± std: ' + ${num('datum.mean')} + ' ± ' + ${num('datum.std')}`, as: '__label' },
        ],
        mark: { type: 'errorbar', ticks: { width: 6 }, color: '#222' },
        encoding: {
          y: { field: '__lo', type: 'quantitative', title: metric },
          y2: { field: '__hi' },
          description: DESCRIBED,
          tooltip,
        },
      },
    ],
  } satisfies ChartSpec;
}

/** Mean and sample std (n - 1; 0 for one value) of a chart point's values; undefined for none. */
export function meanStd(xs: readonly number[]): { mean: number; std: number; n: number } | undefined {
  if (!xs.length) return undefined;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std, n: xs.length };
}

/**
 * A swept parameter (rho, lambda): one line per series through the means, points labelled with
 * the row's fields, and a ± std band; x on a log scale when opts.logX (x must then be > 0).
 * `param` and `metric` are the axis titles; opts.seriesTitle titles the legend (default "Series").
 */
export function sweepChart(
  points: Array<{ series: string; x: number; mean: number; std: number; n: number }>,
  param: string,
  metric: string,
  opts?: ChartOptions & { logX?: boolean; seriesTitle?: string },
): ChartSpec {
  const series = distinct(points.map((p) => p.series));
  const x = { field: 'x', type: 'quantitative' as const, title: param, scale: opts?.logX ? { type: 'log' as const } : { zero: false }, axis: { tickCount: 6 } };
  // the legend's symbols would take the band's opacity
  const color = { field: 'series', type: 'nominal' as const, sort: series, scale: { domain: series }, title: opts?.seriesTitle ?? 'Series', legend: { symbolOpacity: 1 } };
  return {
    ...frame(`${metric} against ${param}${opts?.logX ? ' (log scale)' : ''}: the mean over seeds of ${series.join(', ')}, with a ± std band.`, opts, 420, 280),
    data: { values: clean(points) },
    transform: [
      { calculate: 'datum.mean - datum.std', as: '__lo' },
      { calculate: 'datum.mean + datum.std', as: '__hi' },
    ],
    layer: [
      {
        mark: { type: 'area', opacity: 0.18, aria: false },
        encoding: { x, y: { field: '__lo', type: 'quantitative', title: metric, scale: { zero: false } }, y2: { field: '__hi' }, color },
      },
      {
        mark: { type: 'line', strokeWidth: 2, aria: false },
        encoding: { x, y: { field: 'mean', type: 'quantitative', title: metric }, color },
      },
      {
        transform: [{ calculate: labelExpr([['series', 'text'], ['x', 'number'], ['mean', 'number'], ['std', 'number'], ['n', 'number']]), as: '__label' }],
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x,
          y: { field: 'mean', type: 'quantitative', title: metric },
          color,
          description: DESCRIBED,
          tooltip: [
            { field: 'series', type: 'nominal', title: opts?.seriesTitle ?? 'series' },
            { field: 'x', type: 'quantitative', title: param, format: '.4~r' },
            { field: 'mean', type: 'quantitative', title: 'mean', format: '.4~r' },
            { field: 'std', type: 'quantitative', title: 'std', format: '.4~r' },
            { field: 'n', type: 'quantitative', title: 'n' },
          ],
        },
      },
    ],
  } satisfies ChartSpec;
}

/**
 * Pre-binned, density-normalised histograms overlaid: one colour per series, semi-transparent
 * bars from x0 to x1 with height `fraction` (a series' fractions sum to 1). `xTitle` titles the
 * x axis, opts.yTitle the y axis (default "fraction").
 */
export function histogramChart(bins: Array<{ series: string; x0: number; x1: number; fraction: number }>, xTitle: string, opts?: ChartOptions & { yTitle?: string }): ChartSpec {
  const series = distinct(bins.map((b) => b.series));
  return {
    ...frame(`Histograms of ${xTitle} (fraction per bin, overlaid): ${series.join(', ')}.`, opts, 480, 280),
    data: { values: clean(bins) },
    transform: [{ calculate: labelExpr([['series', 'text'], ['x0', 'number'], ['x1', 'number'], ['fraction', 'number']]), as: '__label' }],
    mark: { type: 'bar', opacity: 0.5, binSpacing: 0 },
    encoding: {
      x: { field: 'x0', type: 'quantitative', title: xTitle, scale: { zero: false, nice: false }, axis: { tickCount: 8 } },
      x2: { field: 'x1' },
      y: { field: 'fraction', type: 'quantitative', title: opts?.yTitle ?? 'fraction', stack: null },
      y2: { datum: 0 },
      color: { field: 'series', type: 'nominal', sort: series, scale: { domain: series }, title: 'Series' },
      description: DESCRIBED,
      tooltip: [
        { field: 'series', type: 'nominal', title: 'series' },
        { field: 'x0', type: 'quantitative', title: 'from', format: '.4~r' },
        { field: 'x1', type: 'quantitative', title: 'to', format: '.4~r' },
        { field: 'fraction', type: 'quantitative', title: 'fraction', format: '.4~r' },
      ],
    },
  } satisfies ChartSpec;
}

/**
 * Bins several samples over one shared range into `bins` equal-width bins (default 40). Min and
 * max come from a loop (no spreading into Math.min/max, so 10M values are fine); values that are
 * not finite are skipped. Each series' fractions are its counts over its finite values (they sum
 * to 1); an empty sample gives bins of fraction 0; a constant range is widened to ± 5% of the
 * value (± 0.5 around 0) so the values fall in the middle bin. No finite value at all: [].
 */
export function binSamples(samples: Array<{ name: string; values: ArrayLike<number> }>, bins = 40): Array<{ series: string; x0: number; x1: number; fraction: number }> {
  const nBins = Math.max(1, Math.floor(bins));
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of samples) {
    const v = s.values;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
      // NaN fails both comparisons; ±Infinity is excluded below
    }
  }
  if (lo === -Infinity || hi === Infinity) {
    // an infinite value: recompute over the finite ones only
    lo = Infinity;
    hi = -Infinity;
    for (const s of samples) {
      const v = s.values;
      for (let i = 0; i < v.length; i++) {
        const x = v[i]!;
        if (!Number.isFinite(x)) continue;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
    }
  }
  if (!(lo <= hi)) return [];
  if (lo === hi) {
    const half = Math.abs(lo) * 0.05 || 0.5;
    lo -= half;
    hi += half;
  }
  const width = (hi - lo) / nBins;
  const edge = (i: number): number => (i === nBins ? hi : lo + i * width);
  const out: Array<{ series: string; x0: number; x1: number; fraction: number }> = [];
  for (const s of samples) {
    const counts = new Float64Array(nBins);
    let n = 0;
    const v = s.values;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (!Number.isFinite(x)) continue;
      counts[Math.min(nBins - 1, Math.max(0, Math.floor((x - lo) / width)))]!++;
      n++;
    }
    for (let b = 0; b < nBins; b++) out.push({ series: s.name, x0: edge(b), x1: edge(b + 1), fraction: n ? counts[b]! / n : 0 });
  }
  return out;
}

/**
 * Accuracy vs robustness: one point per model × attack, x = the recall metric, y = the target
 * metric (attack success, lower is more robust), both in percent (pass values × 100: the axes
 * are titled "<metric> (%)"); colour = model, shape = attack.
 */
export function accuracyRobustnessChart(points: Array<{ model: string; attack: string; recall: number; target: number }>, recallMetric: string, targetMetric: string, opts?: ChartOptions): ChartSpec {
  const models = distinct(points.map((p) => p.model));
  const attacks = distinct(points.map((p) => p.attack));
  return {
    ...frame(`Accuracy against robustness: ${recallMetric} (x) and ${targetMetric} (y, lower is more robust) of each model under each attack (${models.join(', ')}; ${attacks.join(', ')}).`, opts, 420, 300),
    data: { values: clean(points) },
    transform: [{ calculate: labelExpr([['model', 'text'], ['attack', 'text'], ['recall', 'number'], ['target', 'number']]), as: '__label' }],
    mark: { type: 'point', filled: true, size: 110, opacity: 0.9 },
    encoding: {
      x: { field: 'recall', type: 'quantitative', title: `${recallMetric} (%)`, scale: { zero: false, padding: 12 } },
      // attack success is a rate: its axis starts at 0
      y: { field: 'target', type: 'quantitative', title: `${targetMetric} (%)`, scale: { zero: true } },
      color: { field: 'model', type: 'nominal', sort: models, scale: { domain: models }, title: 'Model' },
      shape: { field: 'attack', type: 'nominal', sort: attacks, scale: { domain: attacks }, title: 'Attack' },
      description: DESCRIBED,
      tooltip: [
        { field: 'model', type: 'nominal', title: 'model' },
        { field: 'attack', type: 'nominal', title: 'attack' },
        { field: 'recall', type: 'quantitative', title: `${recallMetric} (%)`, format: '.4~r' },
        { field: 'target', type: 'quantitative', title: `${targetMetric} (%)`, format: '.4~r' },
      ],
    },
  } satisfies ChartSpec;
}

/**
 * Training curves: x = epoch, y = value, one line per series (colour), one panel per metric (the
 * loss terms), each panel with its own y scale; opts.width/height size one panel.
 */
export function trainingCurveChart(points: Array<{ series: string; epoch: number; metric: string; value: number }>, opts?: ChartOptions & { columns?: number }): ChartSpec {
  const series = distinct(points.map((p) => p.series));
  const metrics = distinct(points.map((p) => p.metric));
  const { width, height, ...top } = frame(`Training curves: ${metrics.join(', ')} per epoch of ${series.join(', ')}.`, opts, 300, 200);
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'Epoch', axis: { tickMinStep: 1 } };
  const y = { field: 'value', type: 'quantitative' as const, title: 'Value', scale: { zero: false } };
  const color = { field: 'series', type: 'nominal' as const, sort: series, scale: { domain: series }, title: 'Series' };
  return {
    ...top,
    data: { values: clean(points) },
    facet: { field: 'metric', type: 'nominal', sort: metrics, title: null, header: { labelFontSize: 12 } },
    columns: opts?.columns ?? Math.min(3, Math.max(1, metrics.length)),
    resolve: { scale: { y: 'independent' } },
    spec: {
      width,
      height,
      layer: [
        { mark: { type: 'line', strokeWidth: 2, aria: false }, encoding: { x, y, color } },
        {
          transform: [{ calculate: labelExpr([['series', 'text'], ['epoch', 'number'], ['metric', 'text'], ['value', 'number']]), as: '__label' }],
          mark: { type: 'point', filled: true, size: 24 },
          encoding: {
            x,
            y,
            color,
            description: DESCRIBED,
            tooltip: [
              { field: 'series', type: 'nominal', title: 'series' },
              { field: 'epoch', type: 'quantitative', title: 'epoch' },
              { field: 'metric', type: 'nominal', title: 'metric' },
              { field: 'value', type: 'quantitative', title: 'value', format: '.4~r' },
            ],
          },
        },
      ],
    },
  } satisfies ChartSpec;
}

/**
 * A 2-D projection of user embeddings (PCA, t-SNE, …: `method` names the axes "<method> 1/2"):
 * one point per user coloured by kind, genuine users grey-blue and fake users red, drawn on top.
 */
export function embeddingChart(points: Array<{ x: number; y: number; kind: 'genuine' | 'fake'; user: number }>, method: string, opts?: ChartOptions): ChartSpec {
  // fake users last: marks are drawn in data order, so they end up on top
  const ordered = [...points.filter((p) => p.kind !== 'fake'), ...points.filter((p) => p.kind === 'fake')].map((p, i) => ({ ...p, __order: i }));
  const fake = points.filter((p) => p.kind === 'fake').length;
  const dense = points.length > 4000;
  return {
    ...frame(`${method} projection of ${points.length - fake} genuine and ${fake} fake users' embeddings.`, opts, 420, 360),
    data: { values: ordered },
    transform: [{ calculate: labelExpr([['x', 'number'], ['y', 'number'], ['kind', 'text'], ['user', 'number']]), as: '__label' }],
    mark: { type: 'circle', size: dense ? 10 : 28 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: `${method} 1`, scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: `${method} 2`, scale: { zero: false } },
      color: { field: 'kind', type: 'nominal', scale: { domain: ['genuine', 'fake'], range: ['#6b8fb5', '#d62728'] }, title: 'User' },
      opacity: { condition: { test: "datum.kind === 'fake'", value: 0.95 }, value: dense ? 0.35 : 0.55 },
      order: { field: '__order', type: 'quantitative' },
      description: DESCRIBED,
      tooltip: [
        { field: 'user', type: 'quantitative', title: 'user' },
        { field: 'kind', type: 'nominal', title: 'kind' },
        { field: 'x', type: 'quantitative', title: `${method} 1`, format: '.4~r' },
        { field: 'y', type: 'quantitative', title: `${method} 2`, format: '.4~r' },
      ],
    },
  } satisfies ChartSpec;
}

/**
 * Item-popularity distribution of the items each group picks (fake vs genuine users): the fraction
 * of the group's interactions per popularity bucket, buckets in the order given, one bar series
 * per group.
 */
export function popularityChart(rows: Array<{ group: string; bucket: string; fraction: number }>, opts?: ChartOptions): ChartSpec {
  const buckets = distinct(rows.map((r) => r.bucket));
  const groups = distinct(rows.map((r) => r.group));
  return {
    ...frame(`Fraction of each group's interactions per item-popularity bucket (${buckets.join(', ')}): ${groups.join(', ')}.`, opts, Math.max(360, buckets.length * (groups.length * 14 + 10)), 260),
    data: { values: clean(rows) },
    transform: [{ calculate: labelExpr([['group', 'text'], ['bucket', 'text'], ['fraction', 'number']]), as: '__label' }],
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'bucket', type: 'nominal', sort: buckets, title: 'Item popularity (items by genuine interactions)', axis: { labelAngle: buckets.length > 6 ? -30 : 0 } },
      xOffset: { field: 'group', type: 'nominal', sort: groups },
      y: { field: 'fraction', type: 'quantitative', title: 'Fraction of interactions', axis: { format: '.0%' } },
      color: { field: 'group', type: 'nominal', sort: groups, scale: { domain: groups }, title: 'Group' },
      description: DESCRIBED,
      tooltip: [
        { field: 'group', type: 'nominal', title: 'group' },
        { field: 'bucket', type: 'nominal', title: 'bucket' },
        { field: 'fraction', type: 'quantitative', title: 'fraction', format: '.2%' },
      ],
    },
  } satisfies ChartSpec;
}

/** "12.5" or "10": a percentage to at most one decimal. */
const pctText = (p: number): string => String(Math.round(p * 10) / 10);

/**
 * Popularity buckets: items sorted by genuine popularity (most popular first, ties by item id)
 * and split into `buckets` (default 10) equal-count groups labelled "top 10%", "10–20%", …,
 * "90–100%". Returns, per group and bucket (groups in the order given, buckets from the top),
 * the fraction of the group's interactions (its item ids, repeats counted) that fall in the
 * bucket; ids outside 0 … popularity.length − 1 are not counted; a group with none gets 0s.
 * A group may give `counts` (interactions per item id, e.g. the popularity itself) instead of
 * listing its interactions' items: the same fractions without expanding the counts.
 */
export function popularityBuckets(
  popularity: ArrayLike<number>,
  itemsByGroup: Array<{ group: string; items: ArrayLike<number> } | { group: string; counts: ArrayLike<number> }>,
  buckets = 10,
): Array<{ group: string; bucket: string; fraction: number }> {
  const nb = Math.max(1, Math.floor(buckets));
  const nItems = popularity.length;
  const order = new Uint32Array(nItems);
  for (let i = 0; i < nItems; i++) order[i] = i;
  order.sort((a, b) => popularity[b]! - popularity[a]! || a - b);
  const bucketOf = new Uint32Array(nItems);
  for (let r = 0; r < nItems; r++) bucketOf[order[r]!] = Math.min(nb - 1, Math.floor((r * nb) / nItems));
  const labels = Array.from({ length: nb }, (_, k) => (k === 0 ? `top ${pctText((100 * (k + 1)) / nb)}%` : `${pctText((100 * k) / nb)}–${pctText((100 * (k + 1)) / nb)}%`));
  const out: Array<{ group: string; bucket: string; fraction: number }> = [];
  for (const g of itemsByGroup) {
    const group = g.group;
    const counts = new Float64Array(nb);
    let n = 0;
    if ('counts' in g) {
      for (let item = 0; item < Math.min(nItems, g.counts.length); item++) {
        counts[bucketOf[item]!]! += g.counts[item]!;
        n += g.counts[item]!;
      }
    } else
      for (let i = 0; i < g.items.length; i++) {
        const item = g.items[i]!;
        if (!Number.isInteger(item) || item < 0 || item >= nItems) continue;
        counts[bucketOf[item]!]!++;
        n++;
      }
    for (let k = 0; k < nb; k++) out.push({ group, bucket: labels[k]!, fraction: n ? counts[k]! / n : 0 });
  }
  return out;
}
