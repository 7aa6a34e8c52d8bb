import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  accuracyRobustnessChart,
  attackSuccessChart,
  binSamples,
  CHART_FONT_FILE,
  embeddingChart,
  histogramChart,
  popularityBuckets,
  popularityChart,
  renderSvg,
  sweepChart,
  svgToPng,
  trainingCurveChart,
  type ChartSpec,
} from '../src/index';

/** The aria-labels of the SVG's data marks of one role ("bar", "point", "errorbar", …), in drawing order. */
function marks(svg: string, role: string): string[] {
  const out: string[] = [];
  for (const [tag] of svg.matchAll(/<[a-z]+\b[^>]*\brole="graphics-symbol"[^>]*>/g)) {
    if (tag.match(/aria-roledescription="([^"]*)"/)?.[1] !== role) continue;
    out.push((tag.match(/aria-label="([^"]*)"/)?.[1] ?? '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
  }
  return out;
}

/** Whether the SVG contains a string (a short failure message instead of the whole SVG). */
function has(svg: string, text: string | RegExp): void {
  expect(typeof text === 'string' ? svg.includes(text) : text.test(svg), `the SVG lacks ${String(text)}`).toBe(true);
}

const pngSize = (png: Buffer): [number, number] => [png.readUInt32BE(16), png.readUInt32BE(20)];
const svgSize = (svg: string): [number, number] => {
  const m = svg.match(/<svg\b[^>]*\bwidth="(\d+)" height="(\d+)"/)!;
  return [Number(m[1]), Number(m[2])];
};

/** What every spec shares: schema, inline data, a description, a white background; plain JSON. */
function expectCommon(spec: ChartSpec): void {
  const s = spec as unknown as Record<string, unknown>;
  expect(s.$schema).toBe('https://vega.github.io/schema/vega-lite/v6.json');
  expect(Array.isArray((s.data as { values: unknown[] }).values)).toBe(true);
  expect(typeof s.description).toBe('string');
  expect(s.background).toBe('white');
  expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  expect(JSON.stringify(spec)).toContain('"tooltip"');
}

// Table 2 of results/gowalla-paper (T-HR@50 in %, mean and std over seeds 2024-2026)
const MODELS = ['MF', 'APR', 'PamaCF'];
const ATTACKS = ['Random', 'Bandwagon', 'DP', 'Rev'];
const THR: Record<string, Array<[number, number]>> = {
  MF: [[0.857, 0.052], [0.706, 0.093], [0.14, 0.039], [0.585, 0.115]],
  APR: [[0.583, 0.061], [0.334, 0.071], [0.027, 0.007], [0.261, 0.116]],
  PamaCF: [[0.451, 0.038], [0.309, 0.061], [0.029, 0.008], [0.236, 0.109]],
};
const RECALL: Record<string, number[]> = { MF: [12.27, 12.24, 12.38, 12.22], APR: [14.23, 14.2, 14.25, 14.16], PamaCF: [14.28, 14.25, 14.31, 14.22] };

describe('chart specs rendered headless', () => {
  it('attackSuccessChart: one labelled bar per model × attack and a mean ± std error bar where n > 1', async () => {
    const rows = MODELS.flatMap((model) => ATTACKS.map((attack, j) => ({ model, attack, mean: THR[model]![j]![0], std: THR[model]![j]![1], n: 3 })));
    rows.push({ model: 'SharpCF', attack: 'Random', mean: 0.5, std: 0, n: 1 });
    const spec = attackSuccessChart(rows, 'T-HR@50 (%)', { title: 'Gowalla: attack success' });
    expectCommon(spec);
    const svg = await renderSvg(spec);
    const bars = marks(svg, 'bar');
    expect(bars).toHaveLength(13);
    expect(bars).toContain('model: MF; attack: Random; mean: 0.857; std: 0.052; n: 3');
    expect(bars).toContain('model: PamaCF; attack: DP; mean: 0.029; std: 0.008; n: 3');
    expect(bars).toContain('model: SharpCF; attack: Random; mean: 0.5; std: 0; n: 1');
    for (const m of MODELS) for (const a of ATTACKS) expect(bars.filter((b) => b.startsWith(`model: ${m}; attack: ${a};`))).toHaveLength(1);
    const errorBars = marks(svg, 'errorbar');
    expect(errorBars).toHaveLength(12); // not for the single-seed row
    expect(errorBars).toContain('model: APR; attack: Rev; mean ± std: 0.261 ± 0.116');
    has(svg, "Y-axis titled 'T-HR@50 (%)'");
    has(svg, "X-axis titled 'Attack' for a discrete scale with 4 values: Random, Bandwagon, DP, Rev");
    has(svg, "Title text 'Gowalla: attack success'");
    has(svg, /^<svg role="graphics-document" aria-roledescription="visualization" aria-label="T-HR@50 \(%\) per model and attack/);
    has(svg, /<rect width="\d+" height="\d+" fill="white"\/>/); // the white background
  });

  it('sweepChart: one labelled point per series × value, lines and ± std band, log x when asked', async () => {
    const lambdas = [0.01, 0.1, 1, 10];
    const points = ['Clean', 'Random'].flatMap((series, k) => lambdas.map((x, i) => ({ series, x, mean: 14.3 - k * 0.05 - i * 0.4, std: 0.05 + 0.01 * i, n: 3 })));
    const log = await renderSvg(sweepChart(points, 'lambda', 'Recall@20 (%)', { logX: true, title: 'PamaCF: Recall@20 vs lambda', seriesTitle: 'Attack' }));
    const pts = marks(log, 'point');
    expect(pts).toHaveLength(8);
    expect(pts).toContain('series: Random; x: 0.01; mean: 14.25; std: 0.05; n: 3');
    expect(pts).toContain('series: Clean; x: 10; mean: 13.1; std: 0.08; n: 3');
    has(log, "X-axis titled 'lambda' for a log scale with values from 0.01 to 10");
    has(log, /Symbol legend titled 'Attack' for [a-z ]+ with 2 values: Clean, Random/);
    expect((log.match(/class="mark-line role-mark/g) ?? []).length).toBe(2); // a line per series
    expect((log.match(/class="mark-area role-mark/g) ?? []).length).toBe(2); // a band per series
    expect((log.match(/<path d="M[^"]*Z" fill="#[0-9a-f]{6}" opacity="0\.18"\/>/g) ?? []).length).toBe(2);
    const linear = await renderSvg(sweepChart(points.map((p) => ({ ...p, x: p.x * 0.1 + 0.1 })), 'rho', 'T-HR@50 (%)'));
    has(linear, "X-axis titled 'rho' for a linear scale");
    expect(linear.includes('log scale')).toBe(false);
    expectCommon(sweepChart(points, 'lambda', 'Recall@20 (%)'));
  });

  it('histogramChart over binSamples: one labelled bar per series × bin, overlaid and semi-transparent', async () => {
    let seed = 7;
    const rand = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const pamacf = Float32Array.from({ length: 20000 }, () => 0.3 + 0.04 * Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand()));
    const bins = binSamples([{ name: 'APR', values: new Float32Array(20000).fill(0.3) }, { name: 'PamaCF', values: pamacf }], 30);
    expect(bins).toHaveLength(60);
    const spec = histogramChart(bins, 'magnitude', { title: 'Per-user perturbation magnitude (last epoch)', yTitle: 'fraction of users' });
    expectCommon(spec);
    const svg = await renderSvg(spec);
    const bars = marks(svg, 'bar');
    expect(bars).toHaveLength(60);
    expect(bars.filter((b) => b.startsWith('series: APR;') && b.endsWith('fraction: 1'))).toHaveLength(1);
    expect(bars.filter((b) => b.startsWith('series: PamaCF;'))).toHaveLength(30);
    has(svg, "Y-axis titled 'fraction of users'");
    has(svg, "X-axis titled 'magnitude'");
    expect(svg.match(/aria-roledescription="bar" d="[^"]*" fill="#[0-9a-f]{6}" opacity="0\.5"/g)).toHaveLength(60);
  });

  it('accuracyRobustnessChart: one point per model × attack, colour = model, shape = attack', async () => {
    const points = MODELS.flatMap((model) => ATTACKS.map((attack, j) => ({ model, attack, recall: RECALL[model]![j]!, target: THR[model]![j]![0] })));
    const spec = accuracyRobustnessChart(points, 'Recall@20', 'T-HR@50');
    expectCommon(spec);
    const svg = await renderSvg(spec);
    const pts = marks(svg, 'point');
    expect(pts).toHaveLength(12);
    expect(pts).toContain('model: PamaCF; attack: Random; recall: 14.28; target: 0.451');
    has(svg, "X-axis titled 'Recall@20 (%)'");
    has(svg, "Y-axis titled 'T-HR@50 (%)'");
    has(svg, "Symbol legend titled 'Model' for fill color with 3 values: MF, APR, PamaCF");
    has(svg, "Symbol legend titled 'Attack' for shape with 4 values: Random, Bandwagon, DP, Rev");
    // the four attacks are four different shapes
    const shapes = new Set([...svg.matchAll(/<path [^>]*aria-label="model: MF; attack: [^"]*"[^>]*d="([^"]*)"/g)].map((m) => m[1]!.replace(/[\d.-]+/g, 'n')));
    expect(shapes.size).toBe(4);
  });

  it('trainingCurveChart: a panel per metric, a line and labelled points per series', async () => {
    const points = ['MF', 'PamaCF'].flatMap((series, k) =>
      ['bpr', 'adv', 'l2'].flatMap((metric, j) => Array.from({ length: 30 }, (_, e) => ({ series, epoch: e + 1, metric, value: (j + 1) * 0.69 * Math.exp(-e / (8 + 4 * k)) }))),
    );
    const spec = trainingCurveChart(points, { title: 'Training losses' });
    expectCommon(spec);
    const svg = await renderSvg(spec);
    const pts = marks(svg, 'point');
    expect(pts).toHaveLength(180);
    expect(pts).toContain('series: MF; epoch: 1; metric: bpr; value: 0.69');
    expect(pts).toContain('series: PamaCF; epoch: 1; metric: l2; value: 2.07');
    for (const metric of ['bpr', 'adv', 'l2']) has(svg, `>${metric}</text>`);
    expect((svg.match(/class="mark-line role-mark/g) ?? []).length).toBe(6); // 3 panels × 2 series
    expect((svg.match(/X-axis titled 'Epoch'/g) ?? []).length).toBe(3);
  });

  it('embeddingChart: one circle per user, coloured by kind, fake users drawn last (on top)', async () => {
    let seed = 11;
    const rand = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const points = [
      ...Array.from({ length: 15 }, (_, i) => ({ x: 1.5 + 0.1 * rand(), y: 0.1 * rand(), kind: 'fake' as const, user: 1000 + i })),
      ...Array.from({ length: 300 }, (_, i) => ({ x: rand() * 4 - 2, y: rand() * 4 - 2, kind: 'genuine' as const, user: i })),
    ];
    const spec = embeddingChart(points, 't-SNE', { title: 'User embeddings' });
    expectCommon(spec);
    const svg = await renderSvg(spec);
    const circles = marks(svg, 'circle');
    expect(circles).toHaveLength(315);
    expect(circles.slice(-15).every((c) => c.includes('kind: fake'))).toBe(true);
    expect(circles.slice(0, 300).every((c) => c.includes('kind: genuine'))).toBe(true);
    expect(circles).toContain(`x: ${Number(points[0]!.x.toPrecision(4))}; y: ${Number(points[0]!.y.toPrecision(4))}; kind: fake; user: 1000`);
    has(svg, "X-axis titled 't-SNE 1'");
    has(svg, "Symbol legend titled 'User' for fill color with 2 values: genuine, fake");
    has(svg, 'fill="#d62728"'); // fake users in red
  });

  it('popularityChart over popularityBuckets: one bar per group × bucket, buckets in order', async () => {
    const popularity = Float64Array.from({ length: 200 }, (_, i) => 200 - i);
    const genuine = Array.from({ length: 2000 }, (_, i) => Math.floor(200 * ((i * 0.61803) % 1) ** 3));
    const fake = Array.from({ length: 400 }, (_, i) => (i * 37) % 200); // every item twice
    const rows = popularityBuckets(popularity, [{ group: 'genuine', items: genuine }, { group: 'fake', items: fake }]);
    expect(rows).toHaveLength(20);
    const spec = popularityChart(rows, { title: 'Popularity of picked items' });
    expectCommon(spec);
    const svg = await renderSvg(spec);
    const bars = marks(svg, 'bar');
    expect(bars).toHaveLength(20);
    expect(bars).toContain('group: fake; bucket: top 10%; fraction: 0.1');
    has(svg, "X-axis titled 'Item popularity (items by genuine interactions)' for a discrete scale with 10 values: top 10%, 10–20%, 20–30%");
  });
});

describe('binSamples', () => {
  it('bins 5,000,000 values (typed and plain arrays) without a stack overflow, fractions summing to 1', () => {
    const n = 5_000_000;
    const typed = new Float64Array(n);
    for (let i = 0; i < n; i++) typed[i] = Math.sin(i) * 3 + 1;
    const plain = Array.from({ length: n }, (_, i) => (i % 1000) / 100);
    // the old plots.ts spread arrays into Math.min: that overflows the stack at this size
    expect(() => Math.min(...plain)).toThrow(RangeError);
    const bins = binSamples([{ name: 'sin', values: typed }, { name: 'ramp', values: plain }], 40);
    expect(bins).toHaveLength(80);
    for (const name of ['sin', 'ramp']) {
      const mine = bins.filter((b) => b.series === name);
      expect(mine.reduce((s, b) => s + b.fraction, 0)).toBeCloseTo(1, 12);
    }
    // one shared range: min and max over both samples, edges contiguous
    expect(bins[0]!.x0).toBeCloseTo(-2, 6);
    expect(bins[39]!.x1).toBe(9.99);
    for (let b = 1; b < 40; b++) expect(bins[b]!.x0).toBe(bins[b - 1]!.x1);
    // the ramp is uniform over [0, 9.99]: bins that lie inside it hold their width's share
    const ramp = bins.filter((b) => b.series === 'ramp');
    expect(ramp.slice(0, 6).every((b) => b.fraction === 0)).toBe(true); // [-2, -0.2): below the ramp
    expect(ramp[20]!.fraction).toBeCloseTo((ramp[20]!.x1 - ramp[20]!.x0) / 9.99, 2);
  });

  it('handles empty, constant and non-finite samples', () => {
    expect(binSamples([])).toEqual([]);
    expect(binSamples([{ name: 'a', values: [] }])).toEqual([]);
    expect(binSamples([{ name: 'a', values: [NaN, Infinity] }])).toEqual([]);
    const constant = binSamples([{ name: 'a', values: [0.3, 0.3, 0.3] }, { name: 'empty', values: new Float32Array(0) }], 5);
    expect(constant).toHaveLength(10);
    expect(constant[0]!.x0).toBeCloseTo(0.285, 12);
    expect(constant[4]!.x1).toBeCloseTo(0.315, 12);
    expect(constant.filter((b) => b.series === 'a').map((b) => b.fraction)).toEqual([0, 0, 1, 0, 0]);
    expect(constant.filter((b) => b.series === 'empty').map((b) => b.fraction)).toEqual([0, 0, 0, 0, 0]);
    expect(binSamples([{ name: 'zero', values: [0, 0] }], 2).map((b) => [b.x0, b.x1, b.fraction])).toEqual([[-0.5, 0, 0], [0, 0.5, 1]]);
    // NaN and ±Infinity are skipped and not counted
    const mixed = binSamples([{ name: 'm', values: [0, NaN, 1, Infinity, -Infinity, 2, 3] }], 4);
    expect(mixed.map((b) => b.fraction)).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect([mixed[0]!.x0, mixed[3]!.x1]).toEqual([0, 3]);
  });
});

describe('popularityBuckets', () => {
  it('splits items by genuine popularity into equal-count buckets and gives each group its fractions', () => {
    // items 0..9; by popularity: 4 (9), 9 (8), 6 (7), 8 (6), 0 (5), 7 (4), 2 (3), 5 (2), 1 (1), 3 (0)
    const popularity = [5, 1, 3, 0, 9, 2, 7, 4, 6, 8];
    const rows = popularityBuckets(popularity, [
      { group: 'fake', items: [4, 4, 9, 1] },
      { group: 'genuine', items: Int32Array.from([0, 7, 2, 5, 6, 99, -1]) }, // 99 and -1 are not items: not counted
      { group: 'none', items: [] },
    ], 5);
    expect(rows).toEqual([
      { group: 'fake', bucket: 'top 20%', fraction: 0.75 },
      { group: 'fake', bucket: '20–40%', fraction: 0 },
      { group: 'fake', bucket: '40–60%', fraction: 0 },
      { group: 'fake', bucket: '60–80%', fraction: 0 },
      { group: 'fake', bucket: '80–100%', fraction: 0.25 },
      { group: 'genuine', bucket: 'top 20%', fraction: 0 },
      { group: 'genuine', bucket: '20–40%', fraction: 0.2 },
      { group: 'genuine', bucket: '40–60%', fraction: 0.4 },
      { group: 'genuine', bucket: '60–80%', fraction: 0.4 },
      { group: 'genuine', bucket: '80–100%', fraction: 0 },
      ...['top 20%', '20–40%', '40–60%', '60–80%', '80–100%'].map((bucket) => ({ group: 'none', bucket, fraction: 0 })),
    ]);
    // ties go by item id; default 10 buckets; uneven splits labelled to one decimal
    // per-item counts give what listing each interaction's item gives
    const pop = [5, 0, 3, 9, 1, 2];
    const listed = pop.flatMap((c, item) => Array<number>(c).fill(item));
    expect(popularityBuckets(pop, [{ group: 'g', counts: pop }], 3)).toEqual(popularityBuckets(pop, [{ group: 'g', items: listed }], 3));
    expect(popularityBuckets([1, 1, 1], [{ group: 'g', items: [0, 1, 2, 2] }], 3)).toEqual([
      { group: 'g', bucket: 'top 33.3%', fraction: 0.25 },
      { group: 'g', bucket: '33.3–66.7%', fraction: 0.25 },
      { group: 'g', bucket: '66.7–100%', fraction: 0.5 },
    ]);
    expect(popularityBuckets(new Float32Array(100), [{ group: 'g', items: [0] }]).map((r) => r.bucket)).toEqual(['top 10%', '10–20%', '20–30%', '30–40%', '40–50%', '50–60%', '60–70%', '70–80%', '80–90%', '90–100%']);
  });
});

describe('PNG rendering', () => {
  it('svgToPng returns a PNG of the SVG size × scale', async () => {
    const svg = await renderSvg(attackSuccessChart([{ model: 'MF', attack: 'Random', mean: 0.857, std: 0.052, n: 3 }], 'T-HR@50 (%)'));
    const [w, h] = svgSize(svg);
    const png = svgToPng(svg);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(pngSize(png)).toEqual([w * 2, h * 2]);
    expect(pngSize(svgToPng(svg, 1))).toEqual([w, h]);
  });

  it('draws text with the bundled font, whatever the family and whether or not the machine has fonts', () => {
    const page = (body: string): string => `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="60"><rect width="300" height="60" fill="white"/>${body}</svg>`;
    const blank = svgToPng(page(''));
    for (const family of ['sans-serif', 'Helvetica, Arial', 'serif']) {
      const text = svgToPng(page(`<text x="10" y="35" font-family="${family}" font-size="14">Recall@20 (%) ± 0.12</text>`));
      expect(text.length).toBeGreaterThan(blank.length * 4);
    }
    expect(readFileSync(CHART_FONT_FILE).subarray(0, 4)).toEqual(Buffer.from([0, 1, 0, 0])); // a TrueType font
  });

  it('draws a rendered chart, not a blank page', async () => {
    const svg = await renderSvg(sweepChart([{ series: 'Clean', x: 0.1, mean: 12, std: 0.1, n: 3 }, { series: 'Clean', x: 0.5, mean: 13, std: 0.2, n: 3 }], 'rho', 'Recall@20 (%)'));
    const [w, h] = svgSize(svg);
    const blank = svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" fill="white"/></svg>`);
    const withoutText = svgToPng(svg.replace(/<text\b[^>]*>[^<]*<\/text>/g, ''));
    const png = svgToPng(svg);
    expect(png.length).toBeGreaterThan(blank.length * 5);
    expect(png.length).toBeGreaterThan(withoutText.length * 1.3); // the labels are drawn
  });
});

describe('specs.ts stays browser-safe', () => {
  it('imports nothing at run time (types only) and no Node module', () => {
    const src = readFileSync(new URL('../src/specs.ts', import.meta.url), 'utf8');
    const imports = src.split('\n').filter((l) => /^\s*import\b/.test(l));
    expect(imports.every((l) => /^import type\b/.test(l))).toBe(true);
    expect(src).not.toMatch(/from 'node:|require\(/);
  });
});
