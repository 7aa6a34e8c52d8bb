/**
 * Screenshots of every dashboard page, for docs/dashboard/ (npm run dashboard:screenshots --
 * --url http://127.0.0.1:8080/ --out docs/dashboard [--live]). Drives Debian's
 * chromium (ROBUSTREC_CHROMIUM to use another) through playwright-core; each page is taken once
 * its charts have rendered (the app marks #app[data-ready]).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values } = parseArgs({ options: { url: { type: 'string', default: 'http://127.0.0.1:8080/' }, out: { type: 'string', default: 'docs/dashboard' }, live: { type: 'boolean' } } });
const out = values.out!;
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.ROBUSTREC_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
const errors: string[] = [];
page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
page.on('pageerror', (e) => errors.push(e.message));

async function shot(hash: string, name: string, then?: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  await page.goto(new URL(`#/${hash}`, values.url).href);
  await page.waitForSelector('#app[data-ready]', { timeout: 180_000 });
  const ms = performance.now() - t0;
  await then?.();
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
  console.log(`${name}: #/${hash} ready in ${ms.toFixed(0)} ms`);
}

if (values.live) {
  // the first running experiment: wait until its cells show epochs and the live curve is drawn
  await page.goto(new URL('#/experiments', values.url).href);
  await page.waitForSelector('#app[data-ready]', { timeout: 60_000 });
  const id = await page.locator('tr[data-experiment]:has(td.state-running)').first().getAttribute('data-experiment', { timeout: 60_000 });
  await shot(`experiments/${id}`, 'experiments-live', async () => {
    await page.waitForSelector('[data-chart="live-curves"] svg', { timeout: 600_000 });
    // and a streamed epoch or two (ETA comes with them)
    await page.waitForTimeout(6_000);
  });
} else {
  await shot('experiments', 'experiments');
  const first = await page.locator('tr[data-experiment]').first().getAttribute('data-experiment', { timeout: 2_000 }).catch(() => null);
  if (first)
    await shot(`experiments/${first}`, 'experiment', async () => {
      await page.waitForSelector('[data-chart="live-curves"] svg', { timeout: 60_000 });
    });
  await shot('results', 'results');
  await shot('charts', 'charts');
  await shot('embeddings', 'embeddings');
  await shot('profiles', 'profiles');
  await shot('models', 'models', async () => {
    if (!(await page.locator('form[data-try] button').count())) return; // no models: no try-it
    await page.click('form[data-try] button');
    await page.waitForSelector('ol[data-ranking] li', { timeout: 60_000 });
  });
}
await browser.close();
if (errors.length) {
  console.error(`console errors:\n${errors.join('\n')}`);
  process.exitCode = 1;
}
