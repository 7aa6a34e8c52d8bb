import type { ServerWritableStream } from '@grpc/grpc-js';
import { builtinSpec, externalSpec, generators, resolveAttack, validateProfiles, type Profile } from '@robustrec/attacks';
import { attack, common, data, generator } from '@robustrec/contracts';
import { invalidArgument, type ComponentSpec, isRrError, notFound, nowSeconds, peakRssBytes, permissionDenied, provenance, RrError, unavailable } from '@robustrec/core';
import { call, createClient, fetchInteractionData, fromServiceError, iterate, peerClient, serverStream, unary, writeMessage } from '@robustrec/grpc';
import { timingSafeEqual } from 'node:crypto';
import { checkAttackMemory, genuineRows } from './builtin';
import { infoFromSpec, requestFromProto, resolvedToProto } from './convert';
import type { GeneratorRegistry } from './registry';

export interface AttackServiceDeps {
  registry: GeneratorRegistry;
  dataAddress: string;
  /** Registration token; when empty, registration is disabled. */
  token: string;
  /** Address where this process serves AttackGenerator for the built-ins. */
  selfAddress: () => string;
  describeTimeoutMs?: number;
  /** Memory budget in bytes (see @robustrec/core memoryBudget). */
  memoryBudgetBytes: number;
}

const DEFAULT_TIMEOUT_S = 3600;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkToken(configured: string, given: string): void {
  if (!configured) throw permissionDenied('generator registration is disabled: the attack service has no token configured');
  const a = Buffer.from(configured);
  const b = Buffer.from(given ?? '');
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw permissionDenied('token: wrong or missing registration token');
}

/** Describe on an external address; any failure is UNAVAILABLE naming the address. */
async function describeAt(address: string, timeoutMs: number): Promise<attack.GeneratorInfo> {
  const client = createClient(generator.AttackGeneratorClient, address, { external: true });
  try {
    const res = await call(client, client.describe, {}, { deadlineMs: timeoutMs });
    if (!res.generator?.name) throw unavailable(`generator at ${address}: Describe returned no generator name`);
    return res.generator;
  } catch (e) {
    const err = fromServiceError(e);
    throw err.code === 'UNAVAILABLE' ? err : unavailable(`generator at ${address} did not answer Describe: ${err.code} ${err.message}`);
  } finally {
    client.close();
  }
}

/**
 * Unary existence check before streaming the dataset: NOT_FOUND / UNAVAILABLE arrive as a
 * clean status under a short deadline before the (long) dataset stream starts.
 */
async function checkDataset(dataAddress: string, id: string): Promise<void> {
  const c = peerClient(data.DataServiceClient, dataAddress);
  await call(c, c.getDataset, { id }, { kind: 'lookup' });
}

export function attackServer(deps: AttackServiceDeps): attack.AttackServiceServer {
  const { registry, dataAddress } = deps;

  const lookup = (name: string): { spec: ComponentSpec; address: string; builtin: boolean } => {
    if (generators.has(name)) return { spec: builtinSpec(name), address: deps.selfAddress(), builtin: true };
    const ext = registry.get(name);
    if (!ext) throw notFound('generator', name || '(empty config.generator.name)');
    return { spec: externalSpec(ext), address: ext.address, builtin: false };
  };

  return {
    listGenerators: unary(async () => ({
      generators: [
        ...[...generators.values()].map((g) => infoFromSpec(g.spec, true, '')),
        ...registry.list().map((g) => infoFromSpec(externalSpec(g), false, g.address)),
      ],
    })),

    registerGenerator: unary(async (req: attack.RegisterGeneratorRequest) => {
      checkToken(deps.token, req.token);
      if (!req.address) throw invalidArgument('address', 'required (host:port)');
      const info = await describeAt(req.address, deps.describeTimeoutMs ?? 5000);
      const name = req.name || info.name;
      if (!NAME_RE.test(name)) throw invalidArgument(req.name ? 'name' : 'generator.name', `invalid generator name ${JSON.stringify(name)}`);
      if (generators.has(name)) throw new RrError('ALREADY_EXISTS', `generator name ${name} is a built-in generator`);
      for (const [k, v] of Object.entries(info.defaultParams))
        if (!Number.isFinite(v)) throw invalidArgument(`generator.default_params.${k}`, `not finite: ${v}`);
      const ext = { name, description: info.description, defaultParams: info.defaultParams, defaultOptions: info.defaultOptions, address: req.address, registeredAt: new Date().toISOString() };
      registry.put(ext);
      return { generator: infoFromSpec(externalSpec(ext), false, req.address) };
    }),

    unregisterGenerator: unary(async (req: attack.UnregisterGeneratorRequest) => {
      checkToken(deps.token, req.token);
      if (generators.has(req.name)) throw invalidArgument('name', `${req.name} is a built-in generator`);
      if (!registry.remove(req.name)) throw notFound('generator', req.name);
      return {};
    }),

    generate: serverStream(async (req: attack.GenerateRequest, stream: ServerWritableStream<attack.GenerateRequest, attack.GenerateResponse>) => {
      if (!req.datasetId) throw invalidArgument('dataset_id', 'required');
      if (!req.config?.generator?.name) throw invalidArgument('config.generator.name', 'required');
      const timeoutS = req.timeoutSeconds === 0 ? DEFAULT_TIMEOUT_S : req.timeoutSeconds;
      if (!(timeoutS > 0) || !Number.isFinite(timeoutS)) throw invalidArgument('timeout_seconds', `must be > 0, got ${req.timeoutSeconds}`);
      const name = req.config.generator.name;
      const g = lookup(name);

      // resolve the common parameters once, here, for built-in and external generators alike
      await writeMessage(stream, { progress: { phase: 'resolving', done: 0, total: 1, etaSeconds: -1, message: `fetching ${req.datasetId}` } });
      await checkDataset(dataAddress, req.datasetId);
      const { dataset, data: d } = await fetchInteractionData(dataAddress, req.datasetId, [common.Split.SPLIT_TRAIN]);
      const train = genuineRows(d.train, d.numGenuineUsers);
      const resolved = resolveAttack(requestFromProto(req.config), train, d.numItems, g.spec);
      checkAttackMemory(resolved, deps.memoryBudgetBytes);
      const config = resolvedToProto(resolved, req.config.targetSelection);

      const t0 = nowSeconds();
      const { profiles, diagnostics } = await runGenerator(g.address, name, {
        dataServiceAddress: dataAddress,
        datasetId: req.datasetId,
        numUsers: d.numGenuineUsers,
        numItems: d.numItems,
        config,
      }, timeoutS, stream);
      const seconds = nowSeconds() - t0;
      validateProfiles(profiles, d.numItems, resolved.targetItems, resolved.numFakeUsers, `generator ${name}`);

      const dataClient = peerClient(data.DataServiceClient, dataAddress);
      const prov = provenance(resolved.seed, { ...resolved, datasetId: req.datasetId, diagnostics });
      const put = await call(dataClient, dataClient.putProfileSet, {
        profileSet: {
          id: '',
          datasetId: req.datasetId,
          generator: name,
          targetItems: resolved.targetItems,
          profiles,
          numProfiles: profiles.length,
          provenance: { seed: prov.seed, configJson: prov.configJson, versions: prov.versions, host: prov.host, createdAt: prov.createdAt },
          seconds,
        },
      }, { kind: 'work' });
      let poisoned: data.Dataset | undefined;
      if (req.derivePoisoned)
        poisoned = (await call(dataClient, dataClient.derivePoisonedDataset, { datasetId: req.datasetId, profileSetId: put.profileSet!.id, name: `${dataset.name}+${name}` }, { kind: 'work' })).dataset;
      await writeMessage(stream, {
        result: { profileSet: { ...put.profileSet!, profiles: [] }, poisonedDataset: poisoned, seconds, peakRssBytes: g.builtin ? peakRssBytes() : 0 },
      });
    }),

    getProfileSet: unary(async (req: attack.AttackServiceGetProfileSetRequest) => {
      if (!req.id) throw invalidArgument('id', 'required');
      const client = peerClient(data.DataServiceClient, dataAddress);
      const res = await call(client, client.getProfileSet, { id: req.id }, { kind: 'lookup' });
      return { profileSet: res.profileSet };
    }),
  };
}

/**
 * Calls GenerateProfiles on a generator (the built-in server or an external process) under
 * a deadline, forwarding progress and collecting profiles. The stream must be: progress*,
 * profiles+ (any order with progress), exactly one done whose count matches, nothing after.
 */
async function runGenerator(
  address: string,
  name: string,
  req: generator.GenerateProfilesRequest,
  timeoutS: number,
  out: ServerWritableStream<attack.GenerateRequest, attack.GenerateResponse>,
): Promise<{ profiles: Profile[]; diagnostics: common.Metric[] }> {
  const where = `generator ${name} at ${address}`;
  const client = createClient(generator.AttackGeneratorClient, address, { external: true });
  const stream = client.generateProfiles(req, { deadline: Date.now() + timeoutS * 1000 });
  const cancel = (): void => stream.cancel();
  out.on('cancelled', cancel);
  const profiles: Profile[] = [];
  let done: generator.GenerationDone | undefined;
  try {
    for await (const msg of iterate(stream)) {
      if (done) throw invalidArgument(where, 'malformed stream: message after done');
      if (msg.progress) await writeMessage(out, { progress: { ...msg.progress, phase: msg.progress.phase || 'generating' } });
      else if (msg.profiles) for (const p of msg.profiles.profiles) profiles.push({ name: p.name, items: p.items });
      else if (msg.done) done = msg.done;
      else throw invalidArgument(where, 'malformed stream: empty message');
    }
  } catch (e) {
    if (isRrError(e) && e.code === 'DEADLINE_EXCEEDED') throw new RrError('DEADLINE_EXCEEDED', `${where} exceeded its ${timeoutS} s deadline; nothing stored`);
    if (isRrError(e) && e.code === 'UNAVAILABLE') throw unavailable(`${where} is unreachable: ${e.message}; nothing stored`);
    const err = fromServiceError(e);
    throw new RrError(err.code, err.message.startsWith(where) ? err.message : `${where}: ${err.message}`);
  } finally {
    out.off('cancelled', cancel);
    client.close();
  }
  if (!done) throw invalidArgument(where, 'malformed stream: ended without a done message; nothing stored');
  if (done.numProfiles !== profiles.length) throw invalidArgument(where, `malformed stream: done says ${done.numProfiles} profiles, ${profiles.length} received`);
  return { profiles, diagnostics: done.diagnostics };
}
