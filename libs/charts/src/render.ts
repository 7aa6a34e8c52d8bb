import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { ChartSpec } from './specs';

/**
 * Headless rendering of the chart specs (Node only): Vega-Lite → Vega → SVG string, then PNG.
 */

/**
 * The font of the PNGs: DejaVu Sans from the npm package dejavu-fonts-ttf (the upstream TTFs,
 * Bitstream Vera licence), regular and bold. Why a font that travels with the code and not the
 * system's: resvg draws text only with fonts it has loaded, so on a machine without fonts (a slim
 * container, a CI image) every label silently disappeared, and where fonts do exist Vega's
 * generic "sans-serif" fell to resvg's default "Arial", missing on Linux, then to whatever font
 * came first (a serif one here). Loading only these files makes every PNG carry its labels,
 * identical on every machine, and skips the system font scan (~15 ms a chart). Every family
 * ("sans-serif", "Helvetica") resolves to it; glyphs it lacks (CJK) are not drawn, and the SVG
 * beside the PNG keeps the text for viewers with their own fonts.
 */
const fontPath = (file: string): string => createRequire(import.meta.url).resolve(`dejavu-fonts-ttf/ttf/${file}`);
export const CHART_FONT_FILE = fontPath('DejaVuSans.ttf');
const CHART_FONT_FILES = [CHART_FONT_FILE, fontPath('DejaVuSans-Bold.ttf')];
const CHART_FONT_FAMILY = 'DejaVu Sans';

/**
 * Text widths for Vega's layout, from the bundled font's advance widths. Without a canvas, Vega
 * estimates every character at 0.8 em, wider than DejaVu Sans (~0.6 em): titles and legends got
 * wide margins and long labels were cut early. Vega supports replacing textMetrics.width (as
 * vl-convert does); this does so for this process, in the font the PNG draws with (no kerning).
 */
function fontAdvances(file: string): (codePoint: number) => number {
  const b = readFileSync(file);
  const tables = new Map<string, number>();
  for (let i = 0, n = b.readUInt16BE(4); i < n; i++) tables.set(b.toString('latin1', 12 + 16 * i, 16 + 16 * i), b.readUInt32BE(20 + 16 * i));
  const head = tables.get('head')!, hhea = tables.get('hhea')!, hmtx = tables.get('hmtx')!, cmap = tables.get('cmap')!;
  const unitsPerEm = b.readUInt16BE(head + 18);
  const nMetrics = b.readUInt16BE(hhea + 34);
  const advance = (glyph: number): number => b.readUInt16BE(hmtx + 4 * Math.min(glyph, nMetrics - 1)) / unitsPerEm;
  // the Unicode BMP subtable (platform 3, encoding 1, format 4)
  let sub = -1;
  for (let i = 0, n = b.readUInt16BE(cmap + 2); i < n; i++) {
    const r = cmap + 4 + 8 * i;
    if (b.readUInt16BE(r) === 3 && b.readUInt16BE(r + 2) === 1) sub = cmap + b.readUInt32BE(r + 4);
  }
  if (sub < 0 || b.readUInt16BE(sub) !== 4) throw new Error(`${file}: no Unicode BMP cmap`);
  const segs = b.readUInt16BE(sub + 6) / 2;
  const ends = sub + 14, starts = ends + 2 * segs + 2, deltas = starts + 2 * segs, offsets = deltas + 2 * segs;
  const glyphOf = (c: number): number => {
    for (let i = 0; i < segs; i++) {
      if (c > b.readUInt16BE(ends + 2 * i)) continue;
      const start = b.readUInt16BE(starts + 2 * i);
      if (c < start) return 0;
      const ro = b.readUInt16BE(offsets + 2 * i);
      if (ro === 0) return (c + b.readInt16BE(deltas + 2 * i)) & 0xffff;
      const g = b.readUInt16BE(offsets + 2 * i + ro + 2 * (c - start));
      return g === 0 ? 0 : (g + b.readInt16BE(deltas + 2 * i)) & 0xffff;
    }
    return 0;
  };
  const cache = new Map<number, number>();
  const fallback = advance(glyphOf(0x6e)); // "n" for characters the font lacks
  return (c) => {
    let w = cache.get(c);
    if (w === undefined) {
      const g = c <= 0xffff ? glyphOf(c) : 0;
      cache.set(c, (w = g ? advance(g) : fallback));
    }
    return w;
  };
}

interface TextItem {
  fontSize?: number | string;
  limit?: number;
}
/** vega re-exports these from vega-scenegraph at run time; its typings leave them out. */
const scenegraph = vega as unknown as { textMetrics: { width: (item: TextItem, text?: unknown) => number }; fontSize: (item: TextItem) => number };
let advanceOf: ((codePoint: number) => number) | undefined;
scenegraph.textMetrics.width = (item, text) => {
  advanceOf ??= fontAdvances(CHART_FONT_FILE);
  const t = text == null ? '' : String(text).trim();
  const size = scenegraph.fontSize(item);
  let em = 0;
  for (const ch of t) em += advanceOf(ch.codePointAt(0)!);
  const width = em * size;
  // a label longer than its limit is drawn cut to fit it (Vega's truncate calls back here)
  return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
};

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Renders a spec to a standalone SVG document, with no DOM and no canvas: Vega-Lite compiles it,
 * Vega renders its scenegraph (each data mark with its aria-label). The spec's `description`,
 * which in a browser labels the container element, labels the root <svg> here (role
 * graphics-document, aria-label, and a <desc>), so the file describes itself.
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const description = view.description();
    if (!description) return svg;
    return svg.replace(/^<svg\b([^>]*)>/, (_, attrs: string) => `<svg role="graphics-document" aria-roledescription="visualization" aria-label="${xml(description)}"${attrs}><desc>${xml(description)}</desc>`);
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG (a chart from renderSvg) to PNG at `scale` × its size, text in the bundled font. */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: {
      loadSystemFonts: false,
      fontFiles: CHART_FONT_FILES,
      defaultFontFamily: CHART_FONT_FAMILY,
      sansSerifFamily: CHART_FONT_FAMILY,
      serifFamily: CHART_FONT_FAMILY,
      monospaceFamily: CHART_FONT_FAMILY,
      cursiveFamily: CHART_FONT_FAMILY,
      fantasyFamily: CHART_FONT_FAMILY,
    },
  });
  return resvg.render().asPng();
}
