import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { data, evaluator, experiment, scoring, trainer } from '@robustrec/contracts';
import { RrError } from '@robustrec/core';
import { acceptedTokens, call, callOptions, checkHealth, defaultSecurity, downloadModel, fromServiceError, peerClient, tokenMatches, type SecurityConfig } from '@robustrec/grpc';
import { popularityBuckets } from '@robustrec/charts/specs';
import { metricLabel } from '@robustrec/metrics';
import { appBundle, APP_CSS, FONTS, INDEX_HTML } from './assets';

/**
 * The dashboard's HTTP side: a thin, stateless JSON + server-sent-events layer over the gRPC
 * services. It holds nothing but a small bounded cache of what it derived from models
 * (perturbation magnitudes), writes nothing, and reaches only the addresses it was started
 * with (a cell's trainer replica is used only when it is one of them). Every call carries the
 * platform's deadline policy and this process's TLS / token configuration (libs/grpc).
 * The deployment's auth holds here too: where reads are protected (ROBUSTREC_AUTH_READS=1)
 * every /api request needs one of the platform's tokens (Authorization: Bearer, or the
 * robustrec_token cookie the page sets after asking for it: EventSource cannot send headers);
 * with ROBUSTREC_TLS_CERT/KEY it serves HTTPS with the services' certificate.
 */
export interface DashboardEndpoints {
  orchestrator: string;
  data: string;
  evaluator: string;
  trainers: string[];
  /** ScoringService (the "try it" panel); default the evaluator's address (one process serves both in-process). */
  scoring?: string;
}

export interface DashboardOptions {
  /** host:port to listen on (default 127.0.0.1:0, an ephemeral port). */
  address?: string;
  endpoints: DashboardEndpoints;
  /** TLS and tokens (default: this process's configuration, libs/grpc security.ts). */
  security?: SecurityConfig;
}

export interface RunningDashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

const HTTP_STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  OUT_OF_RANGE: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  UNIMPLEMENTED: 501,
};

/** Longest id, name or query value accepted (the services bound theirs at 256 too). */
const MAX_PARAM = 256;
/** Most items a "try it" ranking asks for. */
const MAX_TRY_K = 200;
/** Models whose perturbation magnitudes are kept (each a Float32Array of its users). */
const MAGNITUDE_CACHE = 16;
/** Server-sent events: a comment this often keeps proxies from closing an idle stream. */
const SSE_HEARTBEAT_MS = 15_000;

type Handler = (params: string[], query: URLSearchParams, req: IncomingMessage, res: ServerResponse) => Promise<unknown>;

const param = (v: string | undefined, name: string): string => {
  if (v === undefined || v === '') throw new RrError('INVALID_ARGUMENT', `${name}: empty`);
  if (v.length > MAX_PARAM) throw new RrError('INVALID_ARGUMENT', `${name}: longer than ${MAX_PARAM} characters`);
  return v;
};
const intParam = (q: URLSearchParams, name: string, dflt: number, min: number, max: number): number => {
  const raw = q.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new RrError('INVALID_ARGUMENT', `${name}: expected an integer in [${min}, ${max}], got ${JSON.stringify(raw.slice(0, 32))}`);
  return n;
};

export async function startDashboard(opts: DashboardOptions): Promise<RunningDashboard> {
  const e = opts.endpoints;
  const orch = (): experiment.ExperimentServiceClient => peerClient(experiment.ExperimentServiceClient, e.orchestrator);
  const registry = (): evaluator.ModelRegistryServiceClient => peerClient(evaluator.ModelRegistryServiceClient, e.evaluator);
  const evals = (): evaluator.EvaluatorServiceClient => peerClient(evaluator.EvaluatorServiceClient, e.evaluator);
  const scorer = (): scoring.ScoringServiceClient => peerClient(scoring.ScoringServiceClient, e.scoring ?? e.evaluator);
  const dataClient = (): data.DataServiceClient => peerClient(data.DataServiceClient, e.data);
  const magnitudes = new Map<string, number[]>();

  const routes: Array<[RegExp, Handler]> = [
    [
      /^\/api\/health$/,
      async () => {
        const probe = (a: string): Promise<string> => checkHealth(a).catch((err: Error) => `UNREACHABLE: ${err.message}`);
        return {
          orchestrator: await probe(e.orchestrator),
          data: await probe(e.data),
          evaluator: await probe(e.evaluator),
          trainers: await Promise.all(e.trainers.map(probe)),
        };
      },
    ],
    [/^\/api\/specs$/, async () => experiment.ListSpecsResponse.toJSON(await call(orch(), orch().listSpecs, {}))],
    [/^\/api\/experiments$/, async () => experiment.ListExperimentsResponse.toJSON(await call(orch(), orch().listExperiments, { specName: '' }))],
    [/^\/api\/experiments\/([^/]+)$/, async ([id]) => experiment.GetExperimentResponse.toJSON(await call(orch(), orch().getExperiment, { id: param(id, 'id') }))],
    [/^\/api\/experiments\/([^/]+)\/events$/, async ([id], _q, req, res) => sse(orch(), param(id, 'id'), req, res)],
    [
      /^\/api\/results\/([^/]+)$/,
      async ([spec]) => {
        const o = orch();
        const r = await call(o, o.getResults, { specName: param(spec, 'spec') });
        const reg = registry();
        const stored = new Set((await call(reg, reg.listModels, { name: '' })).models.map((m) => m.id));
        const report = JSON.parse(r.reportJson) as { table1: Array<{ columns: Array<{ metric: string }> }>; table2: Array<{ columns: Array<{ metric: string }> }> };
        const metrics = new Set(['recall@20', 'ndcg@20', 't_hr@50', 't_ndcg@50', ...[...report.table1, ...report.table2].flatMap((b) => b.columns.map((c) => c.metric))]);
        return {
          labels: Object.fromEntries([...metrics].map((m) => [m, metricLabel(m)])),
          report,
          spec: JSON.parse(r.specJson),
          // stored: the cell's model is in this evaluator's registry (a results folder has none)
          cells: r.cells.map((c) => ({ ...(experiment.Cell.toJSON(c) as object), stored: stored.has(c.modelId) })),
          significance: { test: r.significanceTest, level: r.significanceLevel },
        };
      },
    ],
    [
      // a job's per-epoch training history, from the trainer that ran it (?replica=: the cell's
      // stored trainer, asked first when it is one of ours; only configured trainers are dialled)
      /^\/api\/jobs\/([^/]+)\/history$/,
      async ([id], q) => {
        const jobId = param(id, 'id');
        const replica = q.get('replica') ?? '';
        const order = [...e.trainers].sort((a, b) => Number(b === replica) - Number(a === replica));
        let last: unknown;
        for (const t of order) {
          const c = peerClient(trainer.TrainerServiceClient, t);
          try {
            const job = await call(c, c.getJob, { id: jobId });
            return { jobId, history: job.history.map((h) => trainer.EpochProgress.toJSON(h)) };
          } catch (err) {
            last = err;
          }
        }
        if (last instanceof RrError && last.code !== 'NOT_FOUND') throw last;
        // a job on no trainer of ours (another replica set, a results folder): no curve, said
        // plainly, rather than an error on a page that shows the rest
        return { jobId, history: [], unavailable: `job ${jobId} is not on any trainer this dashboard reaches` };
      },
    ],
    [
      /^\/api\/models$/,
      async () => {
        const r = registry();
        const d = dataClient();
        const [models, aliases, datasets] = await Promise.all([call(r, r.listModels, { name: '' }), call(r, r.listAliases, { name: '' }), call(d, d.listDatasets, { kind: 0 })]);
        // each model with its dataset's name and whether fake users are in it (poisoned)
        const byId = new Map(datasets.datasets.map((x) => [x.id, x]));
        return {
          models: models.models.map((m) => {
            const ds = byId.get(m.datasetId);
            return { ...(evaluator.Model.toJSON(m) as object), datasetName: ds?.name ?? '', poisoned: ds?.kind === data.DatasetKind.DATASET_KIND_POISONED, targetItems: ds?.targetItems ?? [] };
          }),
          aliases: (evaluator.ListAliasesResponse.toJSON(aliases) as { aliases?: unknown[] }).aliases ?? [],
        };
      },
    ],
    [
      /^\/api\/models\/([^/]+)$/,
      async ([id]) => {
        const r = registry();
        const model = await call(r, r.getModel, { model: { id: param(id, 'id'), name: '', version: 0 } });
        const ev = evals();
        const list = await call(ev, ev.listEvaluations, { modelId: id!, datasetId: '' });
        return { model: evaluator.GetModelResponse.toJSON(model), evaluations: evaluator.ListEvaluationsResponse.toJSON(list) };
      },
    ],
    [
      /^\/api\/models\/([^/]+)\/projection$/,
      async ([id], q) => {
        const ev = evals();
        const res = await call(ev, ev.projectUsers, { model: { id: param(id, 'id'), name: '', version: 0 }, sample: intParam(q, 'sample', 1500, 1, 5000), seed: intParam(q, 'seed', 2024, 1, 2 ** 31 - 1) }, { kind: 'work' });
        return evaluator.ProjectUsersResponse.toJSON(res);
      },
    ],
    [
      /^\/api\/models\/([^/]+)\/magnitudes$/,
      async ([id]) => {
        const key = param(id, 'id');
        let values = magnitudes.get(key);
        if (!values) {
          const m = await downloadModel(e.evaluator, { id: key, name: '', version: 0 });
          const mag = m.tensors.perturbation_magnitude;
          // 4 significant digits: the histogram's resolution, a third of the bytes
          values = mag ? Array.from(mag, (v) => Number(v.toPrecision(4))) : [];
          if (magnitudes.size >= MAGNITUDE_CACHE) magnitudes.delete(magnitudes.keys().next().value!);
          magnitudes.set(key, values);
        }
        return { modelId: key, values };
      },
    ],
    [/^\/api\/profiles$/, async () => data.ListProfileSetsResponse.toJSON(await call(dataClient(), dataClient().listProfileSets, { datasetId: '' }))],
    [
      /^\/api\/profiles\/([^/]+)$/,
      async ([id]) => {
        const d = dataClient();
        const { profileSet } = await call(d, d.getProfileSet, { id: param(id, 'id') });
        if (!profileSet) throw new RrError('NOT_FOUND', `id: no profile set ${id}`);
        const { statistics } = await call(d, d.getStatistics, { id: profileSet.datasetId });
        const popularity = statistics?.itemPopularity ?? [];
        const fakeItems = profileSet.profiles.flatMap((p) => p.items);
        const targets = new Set(profileSet.targetItems);
        // the fakes' filler items (targets apart: every fake user has them by construction)
        const filler = fakeItems.filter((i) => !targets.has(i));
        const { profiles, ...meta } = profileSet;
        return {
          profileSet: { ...meta, numProfiles: profiles.length, meanLength: profiles.length ? fakeItems.length / profiles.length : 0 },
          targets: profileSet.targetItems.map((item) => ({ item, popularity: popularity[item] ?? 0 })),
          popularity: popularityBuckets(popularity, [
            { group: 'genuine users', counts: popularity },
            { group: 'fake users (filler items)', items: filler },
          ]),
        };
      },
    ],
    [
      /^\/api\/try$/,
      async (_p, q) => {
        const model = param(q.get('model') ?? '', 'model');
        const baseline = q.get('baseline') ? param(q.get('baseline')!, 'baseline') : '';
        const user = intParam(q, 'user', -1, 0, 2 ** 32 - 1);
        if (user < 0) throw new RrError('INVALID_ARGUMENT', 'user: required');
        const k = intParam(q, 'k', 50, 1, MAX_TRY_K);
        const targets = (q.get('targets') ?? '')
          .split(',')
          .filter(Boolean)
          .slice(0, 64)
          .map((t, i) => {
            const n = Number(t);
            if (!Number.isInteger(n) || n < 0) throw new RrError('INVALID_ARGUMENT', `targets[${i}]: expected an item id, got ${JSON.stringify(t.slice(0, 32))}`);
            return n;
          });
        const s = scorer();
        const rank = async (id: string): Promise<{ modelId: string; items: number[]; scores: number[]; targetRanks: Array<number | null> }> => {
          const r = await call(s, s.recommend, { model: { id, name: '', version: 0 }, user, k, includeSeen: false });
          return { modelId: r.modelId, items: r.items, scores: r.scores, targetRanks: targets.map((t) => (r.items.indexOf(t) >= 0 ? r.items.indexOf(t) + 1 : null)) };
        };
        return { user, k, targets, model: await rank(model), baseline: baseline ? await rank(baseline) : null };
      },
    ],
  ];

  async function sse(client: experiment.ExperimentServiceClient, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const stream = client.watchExperiment({ id }, callOptions('watch'));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const beat = setInterval(() => res.write(': keep-alive\n\n'), SSE_HEARTBEAT_MS);
    const stop = (): void => {
      clearInterval(beat);
      stream.cancel();
    };
    req.on('close', stop);
    try {
      for await (const msg of stream as AsyncIterable<experiment.WatchExperimentResponse>) res.write(`data: ${JSON.stringify(experiment.WatchExperimentResponse.toJSON(msg))}\n\n`);
      res.write('event: end\ndata: {}\n\n');
    } catch (err) {
      // the browser's EventSource reconnects on a dropped stream; a cancelled one is ours
      if (!res.destroyed) {
        const rr = fromServiceError(err);
        if (rr.code !== 'CANCELLED') res.write(`event: failure\ndata: ${JSON.stringify({ code: rr.code, error: rr.message })}\n\n`);
      }
    } finally {
      clearInterval(beat);
      res.end();
    }
  }

  const sec = opts.security ?? defaultSecurity();
  const tokens = sec.protectReads ? acceptedTokens(sec) : [];
  /** Protected reads: a platform token in the header or the cookie; messages never repeat it. */
  const authorize = (req: IncomingMessage): void => {
    if (!tokens.length) return;
    const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? /(?:^|;\s*)robustrec_token=([^;\s]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!given) throw Object.assign(new RrError('UNAUTHENTICATED', 'this platform protects reads: give its token (Authorization: Bearer <token>)'), { http: 401 });
    if (!tokenMatches(decodeURIComponent(given), tokens)) throw Object.assign(new RrError('PERMISSION_DENIED', 'the token is not accepted here'), { http: 403 });
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res);
  const tls = sec.tls?.cert && sec.tls.key ? sec.tls : undefined;
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: !!tls.requireClientCert, rejectUnauthorized: !!tls.requireClientCert }, handler)
    : createServer(handler);
  server.maxConnections = 1024;
  server.requestTimeout = 60_000;
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    res.setHeader('x-content-type-options', 'nosniff');
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw Object.assign(new RrError('UNIMPLEMENTED', `${req.method}: the dashboard only reads (GET)`), { http: 405 });
      if (path === '/' || path === '/index.html') return send(res, 200, 'text/html; charset=utf-8', INDEX_HTML);
      if (path === '/app.css') return send(res, 200, 'text/css; charset=utf-8', APP_CSS);
      if (path === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', await appBundle());
      const fontFile = /^\/fonts\/([\w.-]+)$/.exec(path)?.[1];
      if (fontFile && Object.hasOwn(FONTS, fontFile)) {
        res.writeHead(200, { 'content-type': 'font/ttf', 'cache-control': 'public, max-age=86400', 'content-length': FONTS[fontFile]!.byteLength });
        return void res.end(FONTS[fontFile]);
      }
      // liveness/readiness for probes (kubelet, compose): no token, no calls to the services
      if (path === '/healthz') return send(res, 200, 'application/json', '{"status":"ok"}');
      authorize(req);
      for (const [re, h] of routes) {
        const m = re.exec(path);
        if (!m) continue;
        const params = m.slice(1).map((p) => decodeURIComponent(p));
        const out = await h(params, url.searchParams, req, res);
        if (!res.headersSent) send(res, 200, 'application/json', JSON.stringify(out));
        return;
      }
      throw new RrError('NOT_FOUND', `${path.slice(0, 128)}: no such page or API`);
    } catch (err) {
      const rr = err instanceof RrError ? err : fromServiceError(err);
      const status = (err as { http?: number }).http ?? HTTP_STATUS[rr.code] ?? 500;
      if (!res.headersSent) send(res, status, 'application/json', JSON.stringify({ code: rr.code, error: rr.message }));
      else res.end();
    }
  }

  const [host, port] = splitAddress(opts.address ?? '127.0.0.1:0');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  // the bundle is built once, now, so a broken web app fails the start rather than the first page
  await appBundle();
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${actual}/`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function splitAddress(a: string): [string, number] {
  const i = a.lastIndexOf(':');
  const port = Number(a.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new RrError('INVALID_ARGUMENT', `dashboard address: expected host:port, got ${a}`);
  return [a.slice(0, i).replace(/^\[|\]$/g, ''), port];
}
