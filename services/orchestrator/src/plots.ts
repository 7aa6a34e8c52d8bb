import { Resvg } from '@resvg/resvg-js';

/**
 * SVG charts for the reports: line charts with error bars (the paper's
 * Figure 3 sweeps) and overlaid histograms (Figure 2b, perturbation magnitudes).
 */
export interface Series {
  name: string;
  points: Array<{ x: number; y: number; err?: number }>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function ticks(lo: number, hi: number, n = 5): number[] {
  if (hi === lo) return [lo];
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

const fmt = (v: number): string => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

function frame(title: string, xLabel: string, yLabel: string, xs: [number, number], ys: [number, number], body: (sx: (x: number) => number, sy: (y: number) => number) => string, legend: string[]): string {
  const W = 560, H = 360, L = 70, R = 20, T = 40, B = 55;
  const sx = (x: number): number => L + ((x - xs[0]) / (xs[1] - xs[0] || 1)) * (W - L - R);
  const sy = (y: number): number => H - B - ((y - ys[0]) / (ys[1] - ys[0] || 1)) * (H - T - B);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    ...ticks(xs[0], xs[1]).map((t) => `<text x="${sx(t)}" y="${H - B + 16}" text-anchor="middle">${fmt(t)}</text>`),
    ...ticks(ys[0], ys[1]).map((t) => `<line x1="${L - 4}" y1="${sy(t)}" x2="${W - R}" y2="${sy(t)}" stroke="#ddd"/><text x="${L - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`),
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(yLabel)}</text>`,
    body(sx, sy),
    ...legend.map((name, i) => `<rect x="${W - R - 150}" y="${T + 4 + i * 16}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${W - R - 135}" y="${T + 13 + i * 16}">${esc(name)}</text>`),
    '</svg>',
  ];
  return parts.join('\n');
}

/** Line chart with optional ±err bars. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const pts = series.flatMap((s) => s.points);
  const xs: [number, number] = [Math.min(...pts.map((p) => p.x)), Math.max(...pts.map((p) => p.x))];
  const lo = Math.min(...pts.map((p) => p.y - (p.err ?? 0)));
  const hi = Math.max(...pts.map((p) => p.y + (p.err ?? 0)));
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
  const ys: [number, number] = [Math.max(0, lo - pad), hi + pad];
  return frame(title, xLabel, yLabel, xs, ys, (sx, sy) =>
    series
      .map((s, i) => {
        const c = COLORS[i % COLORS.length];
        const sorted = [...s.points].sort((a, b) => a.x - b.x);
        const path = sorted.map((p, j) => `${j ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
        const marks = sorted
          .map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${c}"/>` + (p.err ? `<line x1="${sx(p.x).toFixed(1)}" y1="${sy(p.y - p.err).toFixed(1)}" x2="${sx(p.x).toFixed(1)}" y2="${sy(p.y + p.err).toFixed(1)}" stroke="${c}"/>` : ''))
          .join('');
        return `<path d="${path}" fill="none" stroke="${c}" stroke-width="2"/>${marks}`;
      })
      .join('\n'),
    series.map((s) => s.name),
  );
}

/** Overlaid histograms (density-normalised) of several samples over a shared range. */
export function histogramChart(title: string, xLabel: string, samples: Array<{ name: string; values: ArrayLike<number> }>, bins = 40): string {
  const all = samples.flatMap((s) => Array.from(s.values));
  const lo = Math.min(...all), hi = Math.max(...all);
  const width = (hi - lo) / bins || 1;
  const hists = samples.map((s) => {
    const h = new Array<number>(bins).fill(0);
    for (const v of Array.from(s.values)) h[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
    const n = s.values.length || 1;
    return h.map((c) => c / n);
  });
  const ymax = Math.max(...hists.flat()) * 1.1 || 1;
  return frame(title, xLabel, 'fraction of users', [lo, hi + (hi === lo ? 1 : 0)], [0, ymax], (sx, sy) =>
    hists
      .map((h, i) => {
        const c = COLORS[i % COLORS.length];
        return h
          .map((f, b) => `<rect x="${sx(lo + b * width).toFixed(1)}" y="${sy(f).toFixed(1)}" width="${Math.max(0.5, sx(lo + (b + 1) * width) - sx(lo + b * width)).toFixed(1)}" height="${(sy(0) - sy(f)).toFixed(1)}" fill="${c}" fill-opacity="0.45"/>`)
          .join('');
      })
      .join('\n'),
    samples.map((s) => s.name),
  );
}

/**
 * Rasterises one of these charts to PNG (resvg, prebuilt binary from npm, no install
 * script). Text uses the system's fonts; on a machine without any the PNG has no labels,
 * and the SVG beside it stays the complete figure.
 */
export function svgToPng(svg: string, scale = 2): Buffer {
  const r = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return r.render().asPng();
}
