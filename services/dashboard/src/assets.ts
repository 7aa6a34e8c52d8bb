import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..', 'web');

export const INDEX_HTML = readFileSync(join(WEB, 'index.html'), 'utf8');
export const APP_CSS = readFileSync(join(WEB, 'app.css'), 'utf8');

/**
 * The page's font, served by the dashboard itself (nothing comes from a CDN: it works offline):
 * DejaVu Sans from the dejavu-fonts-ttf package, the font the report PNGs are drawn with.
 */
const font = (file: string): Buffer => readFileSync(createRequire(import.meta.url).resolve(`dejavu-fonts-ttf/ttf/${file}`));
export const FONTS: Readonly<Record<string, Buffer>> = {
  'DejaVuSans.ttf': font('DejaVuSans.ttf'),
  'DejaVuSans-Bold.ttf': font('DejaVuSans-Bold.ttf'),
};

let bundle: Promise<string> | undefined;

/**
 * The browser app (web/main.ts with vega-embed, Vega, Vega-Lite and the chart specs of
 * @robustrec/charts), bundled by esbuild in memory on first use (~1 s) and kept: there is no
 * build step to forget, and the app always matches the server it came with.
 */
export function appBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [join(WEB, 'main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0]!.text);
  return bundle;
}
