import { common, evaluator, inference, scoring } from '@robustrec/contracts';
import { checkMemory, homeDir, invalidArgument, memoryBudget, newId, notFound, provenance, resourceExhausted } from '@robustrec/core';
import { clientStream, requestStream, serverStream, startServer, unary, writeMessage } from '@robustrec/grpc';
import { checkSharding, DEFAULT_KS, evaluateRankingAsync } from '@robustrec/metrics';
import { toStatistics } from './evaluation-stats';
import { DatasetCache, ModelServer, type BatchTop, type ServedModel } from './models';
import { inferenceService, Oip } from './oip';
import { startOipHttp } from './oip-http';
import { UserProjections } from './projection';
import { ModelRegistry, tensorBytes } from './registry';
import { EVALUATOR_ROLES, RegistryMirror, type EvaluatorRole } from './registry-mirror';

export interface EvaluatorServiceOptions {
  address?: string;
  home?: string;
  /** DataService address (datasets for evaluation and the seen-item masks of serving). */
  dataAddress: string;
  /** Largest RecommendBatch / ModelInfer batch (default 10,000 users). */
  maxBatch?: number;
  /** Memory budget in bytes (default: ROBUSTREC_MEMORY_BUDGET or the core default). */
  memoryBudgetBytes?: number;
  /** Services this process serves (default all; see registry-mirror.ts). */
  roles?: EvaluatorRole[];
  /** Scoring replicas: resolve and copy models from this registry service (RegistryMirror). */
  registryAddress?: string;
  /**
   * host:port of the Open Inference Protocol's HTTP/REST binding (oip-http.ts); port 0 picks
   * one. Unset: no HTTP port (gRPC only).
   */
  httpAddress?: string;
}

/** Most cut-offs one Evaluate may ask for (each is a metric per user), and most target items. */
export const MAX_KS = 32;
export const MAX_TARGETS = 1000;

/** Bytes of the top-k answers of a batch: item ids and scores as JS numbers, then as proto messages. */
const answerBytes = (users: number, k: number): number => users * k * 32;

const CHUNK = 1 << 20;

function checkUser(s: ServedModel, user: number): void {
  if (!Number.isInteger(user) || user < 0 || user >= s.model.numUsers) throw notFound('user', `${user} (model ${s.model.id} has users 0..${s.model.numUsers - 1})`);
}

function checkK(s: ServedModel, k: number, field = 'k'): void {
  if (!Number.isInteger(k) || k < 1 || k > s.model.numItems) throw invalidArgument(field, `must be in [1, ${s.model.numItems}], got ${k}`);
}

/**
 * The evaluator process: EvaluatorService (full-ranking metrics), ModelRegistryService,
 * ScoringService and the Open Inference Protocol (KServe v2) over the same loaded models.
 */
export async function startEvaluatorService(opts: EvaluatorServiceOptions) {
  const home = opts.home ?? homeDir();
  const registry = new ModelRegistry(home);
  const datasets = new DatasetCache(opts.dataAddress);
  const server = new ModelServer(registry, datasets);
  if (opts.registryAddress) new RegistryMirror(registry, opts.registryAddress).attach(server);
  const maxBatch = opts.maxBatch ?? 10_000;
  const budget = memoryBudget(opts.memoryBudgetBytes);
  const projections = new UserProjections(registry, opts.dataAddress, budget);

  const registryImpl: evaluator.ModelRegistryServiceServer = {
    registerModel: clientStream(async (messages) => {
      let header: evaluator.Model | undefined;
      const buffers: Record<string, Uint8Array> = {};
      const written: Record<string, number> = {};
      for await (const msg of messages) {
        if (!header) {
          header = ModelRegistry.checkHeader(msg.header, budget);
          for (const t of header.tensors) {
            buffers[t.name] = new Uint8Array(tensorBytes(t));
            written[t.name] = 0;
          }
          continue;
        }
        const c = msg.chunk;
        if (!c) throw invalidArgument('chunk', 'only the first message may be a header');
        const buf = buffers[c.name];
        if (!buf) throw invalidArgument('chunk.name', `tensor ${JSON.stringify(c.name)} is not declared in the header`);
        if (c.offset + c.data.byteLength > buf.byteLength) throw invalidArgument('chunk.offset', `${c.name}: bytes ${c.offset}..${c.offset + c.data.byteLength} exceed its ${buf.byteLength} bytes`);
        buf.set(c.data, c.offset);
        written[c.name]! += c.data.byteLength;
      }
      if (!header) throw invalidArgument('header', 'empty upload');
      for (const t of header.tensors)
        if (written[t.name] !== buffers[t.name]!.byteLength) throw invalidArgument('chunk', `tensor ${t.name} incomplete: ${written[t.name]} of ${buffers[t.name]!.byteLength} bytes`);
      return { model: registry.register(header, buffers) };
    }),
    getModel: unary((req) => ({ model: registry.get(req.model) })),
    setAlias: unary(async (req) => {
      const r = await server.promote(req.name, req.alias, req.version, req.expectedVersion);
      return { alias: r.alias, previousVersion: r.previous };
    }),
    listAliases: unary((req) => ({ aliases: registry.listAliases(req.name || undefined) })),
    deleteAlias: unary((req) => ({ alias: server.dropAlias(req.name, req.alias) })),
    listModels: unary((req) => ({ models: registry.list(req.name || undefined) })),
    downloadModel: serverStream(async (req, call) => {
      const model = registry.get(req.model);
      const loaded = registry.load(model);
      await writeMessage(call, { header: model, chunk: undefined });
      for (const t of model.tensors) {
        const d = loaded.tensors[t.name]!.data;
        const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
        for (let off = 0; off < b.byteLength; off += CHUNK) await writeMessage(call, { header: undefined, chunk: { name: t.name, offset: off, data: b.subarray(off, off + CHUNK) } });
      }
    }),
  };

  const evaluatorImpl: evaluator.EvaluatorServiceServer = {
    evaluate: unary(async (req) => {
      const model = registry.get(req.model);
      const datasetId = req.datasetId || model.datasetId;
      const split = req.split || common.Split.SPLIT_TEST;
      if (split !== common.Split.SPLIT_TEST && split !== common.Split.SPLIT_VALID) throw invalidArgument('split', 'must be SPLIT_TEST or SPLIT_VALID');
      const ks = req.ks.length ? [...new Set(req.ks)] : [...DEFAULT_KS];
      if (ks.length > MAX_KS) throw invalidArgument('ks', `at most ${MAX_KS} distinct cut-offs, got ${ks.length}`);
      ks.forEach((k, i) => {
        if (!Number.isInteger(k) || k < 1 || k > model.numItems) throw invalidArgument(`ks[${i}]`, `must be in [1, ${model.numItems}], got ${k}`);
      });
      if (req.targetItems.length > MAX_TARGETS) throw invalidArgument('target_items', `at most ${MAX_TARGETS} target items, got ${req.targetItems.length}`);
      if (new Set(req.targetItems).size !== req.targetItems.length) throw invalidArgument('target_items', 'duplicate target item');
      // sampling and sharding (libs/metrics/src/sampling.ts); sample_users above the population is refused there
      const sample = { sampleUsers: req.sampleUsers ?? 0, seed: req.sampleSeed ?? 0, shardIndex: req.shardIndex ?? 0, shardCount: req.shardCount ?? 0 };
      checkSharding(sample);
      if (sample.sampleUsers > model.numUsers) throw invalidArgument('sample_users', `${sample.sampleUsers} exceeds the model's ${model.numUsers} users`);
      // the top-K lists of every ranked user (int32 each), before the dataset is fetched
      const ranked = Math.ceil((sample.sampleUsers || model.numUsers) / Math.max(1, sample.shardCount));
      checkMemory('ks', ranked * Math.max(...ks) * 4, budget, `top-${Math.max(...ks)} lists of ${ranked} users`);
      const data = await datasets.get(datasetId);
      if (model.numItems !== data.numItems) throw invalidArgument('dataset_id', `model has ${model.numItems} items, dataset ${datasetId} has ${data.numItems}`);
      if (model.numUsers < data.numGenuineUsers) throw invalidArgument('dataset_id', `model has ${model.numUsers} users, dataset ${datasetId} has ${data.numGenuineUsers} genuine users`);
      const targets = req.targetItems.length ? Uint32Array.from(req.targetItems) : data.targetItems;
      targets.forEach((t, i) => {
        if (t >= data.numItems) throw invalidArgument(`target_items[${i}]`, `item ${t} out of range [0, ${data.numItems})`);
      });
      const maskValid = req.maskValid ?? true;
      const test = split === common.Split.SPLIT_TEST;
      const scorer = server.scorerForEvaluation(model);
      const res = await evaluateRankingAsync({
        scorer,
        numGenuineUsers: data.numGenuineUsers,
        exclude: test && maskValid ? [data.train, data.valid] : [data.train],
        relevant: test ? data.test : data.valid,
        targets: targets.length ? targets : undefined,
        targetExclude: [data.train, data.valid, data.test],
        ks,
        sample,
      });
      const toMetric = (key: string, value: number): common.Metric => {
        const at = key.lastIndexOf('@');
        return { name: key.slice(0, at), k: Number(key.slice(at + 1)), value };
      };
      const sampled = sample.sampleUsers > 0 || sample.shardCount > 0;
      const config = {
        modelId: model.id,
        datasetId,
        split: common.splitToJSON(split),
        ks,
        targets: Array.from(targets),
        maskValid,
        // only when asked for, so that full evaluations keep their configuration
        ...(sampled ? { sampleUsers: sample.sampleUsers, sampleSeed: res.sampling.seed, shardIndex: sample.shardIndex, shardCount: sample.shardCount } : {}),
      };
      const evaluation: evaluator.Evaluation = {
        id: newId('eval'),
        modelId: model.id,
        datasetId,
        split,
        metrics: Object.entries(res.metrics).map(([k, v]) => toMetric(k, v)),
        targets: res.perTarget.map((t) => ({ item: t.item, users: t.users, metrics: Object.entries(t.metrics).map(([k, v]) => toMetric(k, v)), statistics: toStatistics(t.statistics) })),
        usersEvaluated: res.usersEvaluated,
        seconds: res.seconds,
        provenance: provenance(model.provenance?.seed ?? 0, config),
        sampling: res.sampling,
        statistics: toStatistics(res.statistics),
      };
      registry.saveEvaluation(evaluation);
      return { evaluation };
    }),
    getEvaluation: unary((req) => ({ evaluation: registry.getEvaluation(req.id) })),
    listEvaluations: unary((req) => ({ evaluations: registry.listEvaluations(req.modelId, req.datasetId) })),
    projectUsers: unary((req, call) => projections.project(req, () => call.cancelled)),
  };

  const recommend = async (req: scoring.RecommendRequest): Promise<scoring.RecommendResponse> => {
    const s = await server.resolve(req.model);
    checkUser(s, req.user);
    checkK(s, req.k);
    const r = await server.recommend(s, req.user, req.k, req.includeSeen);
    return { ...r, modelId: s.model.id, version: s.model.version };
  };
  /** Checks and ranks a batch (RecommendBatch, RecommendMany) on the batch path. */
  const batch = async (req: scoring.RecommendBatchRequest): Promise<{ s: ServedModel; top: BatchTop }> => {
    if (req.users.length > maxBatch) throw resourceExhausted(`users: ${req.users.length} exceeds the batch limit of ${maxBatch}`);
    const s = await server.resolve(req.model);
    checkK(s, req.k);
    checkMemory('users', answerBytes(req.users.length, req.k), budget, `top-${req.k} lists for ${req.users.length} users`);
    for (const u of req.users) checkUser(s, u);
    return { s, top: await server.recommendMany(s, Uint32Array.from(req.users), req.k, req.includeSeen) };
  };
  const scoringImpl: scoring.ScoringServiceServer = {
    recommend: unary(recommend),
    recommendStream: requestStream<scoring.RecommendStreamRequest, scoring.RecommendStreamResponse>(
      async ({ request }) => {
        if (!request) throw invalidArgument('request', 'each stream message needs a request');
        return { response: await recommend(request), errorCode: 0, errorMessage: '' };
      },
      (st) => ({ response: undefined, errorCode: st.code ?? 13, errorMessage: st.details ?? '' }),
    ),
    score: unary(async (req) => {
      const s = await server.resolve(req.model);
      checkUser(s, req.user);
      if (!req.items.length) throw invalidArgument('items', 'at least one item is required');
      req.items.forEach((it, i) => {
        if (it >= s.model.numItems) throw invalidArgument(`items[${i}]`, `item ${it} out of range [0, ${s.model.numItems})`);
      });
      const row = new Float32Array(s.model.numItems);
      s.scorer.scoreUsers(Uint32Array.of(req.user), row);
      return { scores: req.items.map((it) => row[it]!), modelId: s.model.id };
    }),
    recommendBatch: serverStream(async (req, call) => {
      const { top } = await batch(req);
      for (let i = 0; i < req.users.length; i++) {
        const row = top.items.subarray(i * top.k, (i + 1) * top.k);
        const n = row.indexOf(-1) < 0 ? top.k : row.indexOf(-1);
        await writeMessage(call, { user: req.users[i]!, items: Array.from(row.subarray(0, n)), scores: Array.from(top.scores.subarray(i * top.k, i * top.k + n)) });
      }
    }),
    recommendMany: unary(async (req) => {
      const { s, top } = await batch(req);
      return { items: Array.from(top.items), scores: Array.from(top.scores), k: top.k, modelId: s.model.id, version: s.model.version };
    }),
    loadModel: unary(async (req) => ({ model: (await server.serve(registry.get(req.model))).model })),
    listLoadedModels: unary(() => ({ models: server.list() })),
  };

  const oip = new Oip(registry, server, maxBatch, budget);
  const inferenceImpl = inferenceService(oip);

  const srv = await startServer(
    [
      { name: 'robustrec.v1.EvaluatorService', definition: evaluator.EvaluatorServiceService, implementation: evaluatorImpl },
      { name: 'robustrec.v1.ModelRegistryService', definition: evaluator.ModelRegistryServiceService, implementation: registryImpl },
      { name: 'robustrec.v1.ScoringService', definition: scoring.ScoringServiceService, implementation: scoringImpl },
      { name: 'inference.GRPCInferenceService', definition: inference.GRPCInferenceServiceService, implementation: inferenceImpl },
    ].filter((b) => !opts.roles || opts.roles.some((r) => EVALUATOR_ROLES[r] === b.name)),
    opts.address,
    // model uploads come in chunks of TENSOR_CHUNK_BYTES (1 MiB); other requests are small
    { maxReceiveMessageBytes: 8 << 20 },
  );
  const http = opts.httpAddress !== undefined ? await startOipHttp(oip, { address: opts.httpAddress }) : undefined;
  // registry open (and swept), serving pool started: ready
  srv.markReady();
  oip.ready = true;
  return {
    ...srv,
    registry,
    /** The loaded models (benchmarks call the batch path without the transport). */
    modelServer: server,
    /** host:port of the OIP HTTP/REST binding, when started. */
    httpAddress: http?.address,
    async shutdown(graceMs?: number) {
      oip.ready = false;
      await Promise.all([srv.shutdown(graceMs), http?.close(graceMs)]);
      await Promise.all([server.close(), projections.close()]);
      registry.close();
    },
  };
}
