import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { experiment, evaluator, scoring } from '@robustrec/contracts';
import { call, createClient, iterate, callOptions } from '@robustrec/grpc';
import { startPlatform, startOrchestratorService, type Platform } from '@robustrec/orchestrator-service';
import { startDashboard, type RunningDashboard } from '@robustrec/dashboard';
import { tempDir } from './helpers';
import { CLEAN, MF, PAMACF, RANDOM, smallGridSpec } from './specs';

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a
 * running platform: every page loads without console errors, the charts carry the stored
 * numbers (read back from the SVG's aria labels), the live view follows a running training,
 * and "try it" shows the ranking ScoringService gives. Chromium is installed by .ci/run; a
 * missing browser fails this test (ROBUSTREC_CHROMIUM points at another binary).
 * ROBUSTREC_SCREENSHOTS=DIR also saves a screenshot of each page there (docs/dashboard/).
 */
const CHROMIUM = process.env.ROBUSTREC_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.ROBUSTREC_SCREENSHOTS;
const APR = { name: 'APR', backbone: 'mf', defense: 'apr', params: { warmup_epochs: 1 } };
const SPEC = smallGridSpec('dash', { attacks: [{ ...CLEAN, targets: [3, 7] }, RANDOM], models: [MF, APR, PAMACF] });
// Figure 3 style: PamaCF's rho swept under both attacks
const SWEEP = smallGridSpec('dash-sweep', { attacks: [{ ...CLEAN, targets: [3, 7] }, RANDOM], models: [{ ...PAMACF, sweep: { rho: [0.1, 0.5] } }] });
// one longer training, watched live while it runs
const LIVE = smallGridSpec('dash-live', {
  attacks: [CLEAN],
  models: [MF],
  synthetic: { numUsers: 4000, numItems: 2000, meanInteractions: 40, seed: 9 },
  train: { epochs: 60, batchSize: 256, dim: 32 },
});

describe('dashboard in a browser', () => {
  const tmp = tempDir();
  let platform: Platform;
  let orch: Awaited<ReturnType<typeof startOrchestratorService>>;
  let dash: RunningDashboard;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  // offline: every script, style and font comes from the dashboard; anything else is refused and recorded
  const elsewhere: string[] = [];
  const served = new Set<string>();
  let orchClient: experiment.ExperimentServiceClient;

  const submit = async (yaml: string): Promise<string> => (await call(orchClient, orchClient.submitExperiment, { specYaml: yaml, seeds: [] })).experiment!.id;
  const waitEnded = async (id: string): Promise<experiment.Experiment> => {
    let last: experiment.Experiment | undefined;
    for await (const m of iterate(orchClient.watchExperiment({ id }, callOptions('watch')))) last = m.experiment;
    return last!;
  };
  const open = async (hash: string): Promise<void> => {
    await page.goto(`${dash.url}#/${hash}`);
    await page.waitForSelector(`#app[data-ready]`, { timeout: 60_000 });
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `${hash.replace(/\W+/g, '-').slice(0, 40)}.png`), fullPage: true });
  };
  /** The aria labels of a chart's marks: Vega writes one per mark ("field: value; ..."); axes and legends are labelled groups. */
  const markLabels = (chart: string): Promise<string[]> =>
    page.$$eval(`[data-chart="${chart}"] svg [aria-label]:not(g)`, (els) => els.map((e) => e.getAttribute('aria-label') ?? '').filter((l) => l.includes(':')));

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (.ci/run does) or set ROBUSTREC_CHROMIUM`);
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
    platform = await startPlatform({ home: tmp.dir });
    orch = await startOrchestratorService({ home: tmp.dir, endpoints: platform.endpoints });
    orchClient = createClient(experiment.ExperimentServiceClient, orch.address);
    dash = await startDashboard({ endpoints: { orchestrator: orch.address, data: platform.endpoints.data, evaluator: platform.endpoints.evaluator, trainers: platform.endpoints.trainers } });
    const done = await waitEnded(await submit(SPEC));
    expect(done.cellsDone).toBe(6);
    expect((await waitEnded(await submit(SWEEP))).cellsDone).toBe(4);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(dash.url)) {
        served.add(new URL(url).pathname);
        return route.continue();
      }
      elsewhere.push(url);
      return route.abort();
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await dash?.close();
    orchClient?.close();
    await orch?.shutdown();
    await platform?.shutdown();
    tmp.cleanup();
  });

  it('shows the stored tables, sortable, each value linking to its cells', async () => {
    const res = await call(orchClient, orchClient.getResults, { specName: 'dash' });
    const cells = res.cells;
    await open('results/dash');
    const table = page.locator('[data-table="table1-Syn"]');
    // MF's Clean Recall@20 as the page shows it = the stored cell's value (one seed)
    const mfClean = cells.find((c) => c.variant === 'MF' && c.attack === 'Clean')!;
    const shown = await table.locator('tr[data-model="MF"] td').nth(1).innerText();
    expect(shown).toBe((mfClean.metrics['recall@20']! * 100).toFixed(2));
    // sorting by the Random Recall@20 column orders the rows by that value, best first
    const col = await table.locator('th', { hasText: 'Random Recall@20' }).getAttribute('data-col');
    await table.locator(`th[data-col="${col}"]`).click();
    const order = await table.locator('tr[data-model]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-model')));
    const expected = ['MF', 'APR', 'PamaCF'].sort((a, b) => cells.find((c) => c.variant === b && c.attack === 'Random')!.metrics['recall@20']! - cells.find((c) => c.variant === a && c.attack === 'Random')!.metrics['recall@20']!);
    expect(order).toEqual(expected);
    // a value links to its cells: model id, config and versions
    await table.locator('tr[data-model="PamaCF"] td a').first().click();
    await page.waitForSelector('[data-cell-key]');
    const pama = cells.find((c) => c.variant === 'PamaCF' && c.attack === 'Clean')!;
    expect(await page.locator(`[data-cell-key="${pama.key}"]`).innerText()).toContain(pama.modelId);
    expect(await page.locator(`[data-cell-key="${pama.key}"] pre[data-metrics]`).innerText()).toContain(String(pama.metrics['recall@20']));
  });

  it('draws the charts from the stored numbers', async () => {
    const res = await call(orchClient, orchClient.getResults, { specName: 'dash' });
    await open('charts/dash');
    // attack success: one bar per model × attack, each labelled with its T-HR@50 (%)
    const bars = await markLabels('attack-success-Syn');
    for (const c of res.cells) {
      const v = Number((c.metrics['t_hr@50']! * 100).toPrecision(3));
      const mine = bars.filter((l) => l.includes(c.variant) && l.includes(c.attack) && /mean|T-HR/i.test(l));
      expect(mine.length, `${c.variant}/${c.attack} in ${JSON.stringify(bars)}`).toBeGreaterThanOrEqual(1);
      const nums = mine.flatMap((l) => [...l.matchAll(/-?\d+(\.\d+)?(e-?\d+)?/g)].map((m) => Number(m[0])));
      expect(nums.some((n) => Math.abs(n - v) <= Math.max(1e-9, Math.abs(v) * 0.01)), `${v} in ${JSON.stringify(mine)}`).toBe(true);
    }
    // accuracy vs robustness: a point per model × attack
    expect((await markLabels('accuracy-robustness-Syn')).filter((l) => /recall/i.test(l)).length).toBe(6);
    // perturbation magnitudes of the defended models, and training curves from the trainers' history
    const hist = await markLabels('perturbation-magnitudes');
    expect(hist.some((l) => l.includes('PamaCF'))).toBe(true);
    const curves = await markLabels('training-curves');
    expect(curves.length).toBeGreaterThan(0);
    expect(await page.locator('[data-chart="training-curves"] svg').innerHTML()).toMatch(/MF|PamaCF/);
  });

  it('draws a swept parameter as lines over its values, one per attack', async () => {
    const res = await call(orchClient, orchClient.getResults, { specName: 'dash-sweep' });
    await open('charts/dash-sweep');
    const pts = await markLabels('sweep-PamaCF-rho-t_hr@50');
    expect(pts).toHaveLength(4);
    for (const c of res.cells) {
      const v = c.metrics['t_hr@50']! * 100;
      const mine = pts.find((l) => l.includes(`series: ${c.attack}`) && l.includes(`x: ${c.sweepValue}`));
      expect(mine, `${c.attack} rho=${c.sweepValue} in ${JSON.stringify(pts)}`).toBeDefined();
      const mean = Number(/mean: (-?[\d.e-]+)/.exec(mine!)![1]);
      expect(Math.abs(mean - v)).toBeLessThanOrEqual(Math.max(1e-9, Math.abs(v) * 1e-3));
    }
    expect(await markLabels('sweep-PamaCF-rho-recall@20')).toHaveLength(4);
  });

  it('projects user embeddings with the fake users marked', async () => {
    const models = (await call(createClient(evaluator.ModelRegistryServiceClient, platform.endpoints.evaluator), createClient(evaluator.ModelRegistryServiceClient, platform.endpoints.evaluator).listModels, { name: '' })).models;
    const res = await call(orchClient, orchClient.getResults, { specName: 'dash' });
    const poisoned = res.cells.find((c) => c.attack === 'Random' && c.variant === 'MF')!;
    expect(models.some((m) => m.id === poisoned.modelId)).toBe(true);
    await open(`embeddings/${encodeURIComponent(poisoned.modelId)}`);
    const info = await page.locator('[data-projection]').innerText();
    const fakes = Number(/and (\d+) fake users/.exec(info)![1]);
    expect(fakes).toBeGreaterThan(0);
    const labels = await markLabels('embedding');
    expect(labels.filter((l) => /fake/.test(l)).length).toBe(fakes);
    expect(labels.filter((l) => /genuine/.test(l)).length).toBeGreaterThan(fakes);
  });

  it("shows attack profiles' popularity against genuine users'", async () => {
    await open('profiles');
    expect(await page.locator('[data-table="profiles"] tr[data-profile-set]').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('[data-targets]').innerText()).toMatch(/item \d+/);
    const bars = await markLabels('popularity');
    expect(bars.some((l) => /genuine/.test(l))).toBe(true);
    expect(bars.some((l) => /fake/.test(l))).toBe(true);
  });

  it('"try it" ranks as ScoringService does, with and without the defense', async () => {
    const res = await call(orchClient, orchClient.getResults, { specName: 'dash' });
    const defended = res.cells.find((c) => c.variant === 'PamaCF' && c.attack === 'Random')!;
    const plain = res.cells.find((c) => c.variant === 'MF' && c.attack === 'Random')!;
    await open('models');
    expect(await page.locator('[data-table="models"] tr[data-model-id]').count()).toBeGreaterThanOrEqual(6);
    await page.selectOption('form[data-try] select[name="model"]', defended.modelId);
    await page.selectOption('form[data-try] select[name="baseline"]', plain.modelId);
    await page.fill('form[data-try] input[name="user"]', '5');
    await page.fill('form[data-try] input[name="k"]', '20');
    await page.click('form[data-try] button');
    await page.waitForSelector('ol[data-ranking="baseline"] li');
    const shown = (which: string): Promise<number[]> => page.locator(`ol[data-ranking="${which}"] li`).evaluateAll((li) => li.map((x) => Number(x.getAttribute('data-item'))));
    const sc = createClient(scoring.ScoringServiceClient, platform.endpoints.evaluator);
    for (const [which, id] of [['model', defended.modelId], ['baseline', plain.modelId]] as const) {
      const direct = await call(sc, sc.recommend, { model: { id, name: '', version: 0 }, user: 5, k: 20, includeSeen: false });
      expect(await shown(which)).toEqual(direct.items);
    }
    sc.close();
  });

  it('follows a running training live', async () => {
    const id = await submit(LIVE);
    await open(`experiments/${id}`);
    const epoch = async (): Promise<number> => {
      const t = await page.locator('tr[data-cell-key] td.epoch').first().innerText();
      return Number(/(\d+)\/\d+/.exec(t)?.[1] ?? 0);
    };
    await expect.poll(epoch, { timeout: 120_000, interval: 200 }).toBeGreaterThan(0);
    const first = await epoch();
    await expect.poll(epoch, { timeout: 60_000, interval: 200 }).toBeGreaterThan(first);
    expect(await epoch()).toBeGreaterThan(first);
    // the live loss curve is drawn from the streamed epochs
    await page.waitForSelector('[data-chart="live-curves"] svg', { timeout: 30_000 });
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'experiments-live.png'), fullPage: true });
    await call(orchClient, orchClient.cancelExperiment, { id });
    await expect.poll(() => page.locator('[data-experiment-state]').innerText(), { timeout: 60_000, interval: 200 }).toBe('cancelled');
  });

  it('loads every page without console errors', async () => {
    for (const p of ['experiments', 'results', 'charts', 'embeddings', 'profiles', 'models']) await open(p);
    expect(consoleErrors).toEqual([]);
    // and works offline: nothing was asked of any other host, the font included
    expect(elsewhere).toEqual([]);
    expect([...served]).toEqual(expect.arrayContaining(['/app.js', '/app.css', '/fonts/DejaVuSans.ttf']));
  });
});
