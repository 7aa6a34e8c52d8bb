import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..', 'web');

export const INDEX_HTML = readFileSync(join(WEB, 'index.html'), 'utf8');
export const APP_CSS = readFileSync(join(WEB, 'app.css'), 'utf8');

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
