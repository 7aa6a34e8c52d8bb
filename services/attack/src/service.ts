import type { ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import {
  builtinSpec,
  describeViolations,
  externalSpec,
  GENERATION_RULES,
  GENERATOR_NAME_RE,
  generators,
  maxProfileLength,
  profileViolations,
  resolveAttack,
  ruleError,
  type GenerationRule,
  type Profile,
  type ProfileRules,
  type RuleViolation,
} from '@robustrec/attacks';
import { attack, common, data, generator } from '@robustrec/contracts';
import { invalidArgument, type ComponentSpec, isRrError, notFound, nowSeconds, peakRssBytes, permissionDenied, provenance, RrError, unavailable } from '@robustrec/core';
import { call, createClient, fetchInteractionData, fromServiceError, iterate, mintDataToken, peerClient, serverStream, unary, writeMessage } from '@robustrec/grpc';
import { timingSafeEqual } from 'node:crypto';
import { checkAttackMemory, genuineRows } from './builtin';
import { infoFromSpec, requestFromProto, resolvedToProto } from './convert';
import type { GeneratorRegistry } from './registry';

export interface AttackServiceDeps {
  registry: GeneratorRegistry;
  /** This service's own view of the DataService (it reads and stores through it; built-ins read from it). */
  dataAddress: string;
  /**
   * The DataService address handed to external generators as data_service_address (default
   * dataAddress): where a generator on another host reaches it, e.g. a Kubernetes Service name.
   */
  advertisedDataAddress?: string;
  /** Registration token; when empty, registration is disabled. */
  token: string;
  /** Key signing the generators' data access tokens (the data service verifies with the same key). */
  dataTokenKey: Buffer;
  /** Address where this process serves AttackGenerator for the built-ins. */
  selfAddress: () => string;
  describeTimeoutMs?: number;
  /** Memory budget in bytes (see @robustrec/core memoryBudget). */
  memoryBudgetBytes: number;
}

const DEFAULT_TIMEOUT_S = 3600;
const TEST_TIMEOUT_S = 60;
/** What TestGenerator attacks when given no dataset: small, so that a test takes seconds. */
const TEST_DATASET: data.SyntheticSource = { numUsers: 300, numItems: 200, meanInteractions: 15, popularityExponent: 0.9, clusters: 4, seed: 23 };
const ALL_SPLITS = [common.Split.SPLIT_TRAIN, common.Split.SPLIT_VALID, common.Split.SPLIT_TEST];
const RULE_ORDER = Object.keys(GENERATION_RULES) as GenerationRule[];

function checkToken(configured: string, given: string): void {
  if (!configured) throw permissionDenied('generator registration is disabled: the attack service has no token configured');
  const a = Buffer.from(configured);
  const b = Buffer.from(given ?? '');
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw permissionDenied('token: wrong or missing registration token');
}

/** Describe on an external address; a failed call is UNAVAILABLE naming the address (its answer is checked by the caller). */
async function describeAt(address: string, timeoutMs: number): Promise<attack.GeneratorInfo> {
  const client = createClient(generator.AttackGeneratorClient, address, { external: true });
  try {
    const res = await call(client, client.describe, {}, { deadlineMs: timeoutMs });
    return res.generator ?? { name: '', description: '', builtin: false, address: '', defaultParams: {}, defaultOptions: {}, params: [], options: [], whiteBox: false };
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

/** A generator to run: its parameter schema, where it serves, and what it may read. */
interface Target {
  name: string;
  spec: ComponentSpec;
  address: string;
  builtin: boolean;
  whiteBox: boolean;
}

/** A generation resolved and ready to send: the request (token included), its deadline and the rules its answer must keep. */
interface Prepared {
  dataset: data.Dataset;
  resolved: ReturnType<typeof resolveAttack>;
  request: generator.GenerateProfilesRequest;
  timeoutS: number;
  deadlineMs: number;
  rules: ProfileRules;
}

interface Cancellable {
  on(event: 'cancelled', fn: () => void): unknown;
  off(event: 'cancelled', fn: () => void): unknown;
}

export function attackServer(deps: AttackServiceDeps): attack.AttackServiceServer {
  const { registry, dataAddress } = deps;
  const advertised = deps.advertisedDataAddress || dataAddress;
  const describeMs = deps.describeTimeoutMs ?? 5000;

  const lookup = (name: string): Target => {
    if (generators.has(name)) return { name, spec: builtinSpec(name), address: deps.selfAddress(), builtin: true, whiteBox: false };
    const ext = registry.get(name);
    if (!ext) throw notFound('generator', name || '(empty config.generator.name)');
    return { name, spec: externalSpec(ext), address: ext.address, builtin: false, whiteBox: ext.whiteBox };
  };

  /**
   * Resolves the common parameters once, here, for built-in and external generators alike,
   * and mints an external generator's data access token: the dataset, the splits it may read,
   * and an expiry equal to the generation's deadline. (The built-ins run in this process and
   * read as the platform does, without one.)
   */
  const prepare = async (g: Target, datasetId: string, configIn: attack.AttackConfig, timeoutS: number): Promise<Prepared> => {
    await checkDataset(dataAddress, datasetId);
    const { dataset, data: d } = await fetchInteractionData(dataAddress, datasetId, [common.Split.SPLIT_TRAIN]);
    const train = genuineRows(d.train, d.numGenuineUsers);
    const resolved = resolveAttack(requestFromProto(configIn), train, d.numItems, g.spec);
    const maxLength = maxProfileLength(resolved, d.numItems);
    checkAttackMemory({ numFakeUsers: resolved.numFakeUsers, profileLength: maxLength }, deps.memoryBudgetBytes);
    const splits = g.whiteBox ? ALL_SPLITS : [common.Split.SPLIT_TRAIN];
    const deadlineMs = Date.now() + timeoutS * 1000;
    return {
      dataset,
      resolved,
      timeoutS,
      deadlineMs,
      rules: { numItems: d.numItems, targets: resolved.targetItems, expected: resolved.numFakeUsers, maxLength },
      request: {
        // built-ins run in this process and read through its own view; others get the advertised one
        dataServiceAddress: g.builtin ? dataAddress : advertised,
        datasetId,
        numUsers: d.numGenuineUsers,
        numItems: d.numItems,
        config: resolvedToProto(resolved, configIn.targetSelection),
        dataAccessToken: g.builtin ? '' : mintDataToken(deps.dataTokenKey, { datasetId, splits, expiresAtMs: deadlineMs }),
        readableSplits: splits,
        maxProfileLength: maxLength,
      },
    };
  };

  const checkTimeout = (given: number, dflt: number): number => {
    const t = given === 0 ? dflt : given;
    if (!(t > 0) || !Number.isFinite(t)) throw invalidArgument('timeout_seconds', `must be > 0, got ${given}`);
    return t;
  };

  return {
    listGenerators: unary(async () => ({
      generators: [
        ...[...generators.values()].map((g) => infoFromSpec(g.spec, true, '')),
        ...registry.list().map((g) => infoFromSpec(externalSpec(g), false, g.address, g.whiteBox)),
      ],
    })),

    registerGenerator: unary(async (req: attack.RegisterGeneratorRequest) => {
      checkToken(deps.token, req.token);
      if (!req.address) throw invalidArgument('address', 'required (host:port)');
      if (req.name && !GENERATOR_NAME_RE.test(req.name)) throw invalidArgument('name', `invalid generator name ${JSON.stringify(req.name)}`);
      const info = await describeAt(req.address, describeMs);
      // the generator's own answer is checked like its profiles: a broken one is its fault, not the caller's
      const broken = describeViolations(info).filter((v) => !(req.name && v.rule === 'describe-name'));
      if (broken.length) throw ruleError(`generator at ${req.address}`, broken[0]!, '; not registered');
      const name = req.name || info.name;
      if (generators.has(name)) throw new RrError('ALREADY_EXISTS', `generator name ${name} is a built-in generator`);
      const ext = {
        name,
        description: info.description,
        defaultParams: info.defaultParams,
        defaultOptions: info.defaultOptions,
        address: req.address,
        registeredAt: new Date().toISOString(),
        whiteBox: req.whiteBox,
      };
      registry.put(ext);
      return { generator: infoFromSpec(externalSpec(ext), false, req.address, req.whiteBox) };
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
      const timeoutS = checkTimeout(req.timeoutSeconds, DEFAULT_TIMEOUT_S);
      const name = req.config.generator.name;
      const g = lookup(name);

      await writeMessage(stream, { progress: { phase: 'resolving', done: 0, total: 1, etaSeconds: -1, message: `fetching ${req.datasetId}` } });
      const p = await prepare(g, req.datasetId, req.config, timeoutS);
      const t0 = nowSeconds();
      const { profiles, diagnostics } = await runGenerator(g, p, {
        collectAll: false,
        cancelled: stream,
        onProgress: (progress) => writeMessage(stream, { progress }),
      });
      const seconds = nowSeconds() - t0;
      const { resolved } = p;

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
        poisoned = (await call(dataClient, dataClient.derivePoisonedDataset, { datasetId: req.datasetId, profileSetId: put.profileSet!.id, name: `${p.dataset.name}+${name}` }, { kind: 'work' })).dataset;
      await writeMessage(stream, {
        result: { profileSet: { ...put.profileSet!, profiles: [] }, poisonedDataset: poisoned, seconds, peakRssBytes: g.builtin ? peakRssBytes() : 0 },
      });
    }),

    testGenerator: unary(async (req: attack.TestGeneratorRequest, unaryCall: ServerUnaryCall<attack.TestGeneratorRequest, attack.TestGeneratorResponse>) => {
      checkToken(deps.token, req.token);
      if (!req.address) throw invalidArgument('address', 'required (host:port)');
      if (req.name && !GENERATOR_NAME_RE.test(req.name)) throw invalidArgument('name', `invalid generator name ${JSON.stringify(req.name)}`);
      const timeoutS = checkTimeout(req.timeoutSeconds, TEST_TIMEOUT_S);
      const info = await describeAt(req.address, describeMs);
      const violations = describeViolations(info);
      const name = req.name || (GENERATOR_NAME_RE.test(info.name) ? info.name : 'generator-under-test');
      const finite = Object.fromEntries(Object.entries(info.defaultParams).filter(([, v]) => Number.isFinite(v)));
      const g: Target = { name, spec: externalSpec({ ...info, name, defaultParams: finite }), address: req.address, builtin: false, whiteBox: req.whiteBox };
      let datasetId = req.datasetId;
      if (!datasetId) {
        const dc = peerClient(data.DataServiceClient, dataAddress);
        datasetId = (await call(dc, dc.importDataset, { name: 'generator-test', synthetic: TEST_DATASET }, { kind: 'work' })).dataset!.id;
      }
      const config: attack.AttackConfig = {
        generator: { name, params: {}, options: {} },
        targetItems: [],
        numTargets: 3,
        targetSelection: attack.TargetSelection.TARGET_SELECTION_UNSPECIFIED,
        budgetFraction: 0.05,
        numFakeUsers: 0,
        profileLength: 0,
        seed: 2024,
      };
      const p = await prepare(g, datasetId, config, timeoutS);
      const t0 = nowSeconds();
      const out = await runGenerator(g, p, { collectAll: true, cancelled: unaryCall });
      const all = [...violations, ...out.violations].sort((a, b) => RULE_ORDER.indexOf(a.rule) - RULE_ORDER.indexOf(b.rule));
      return {
        generator: infoFromSpec(g.spec, false, req.address, req.whiteBox),
        violations: all.map((v) => ({ rule: v.rule, description: GENERATION_RULES[v.rule], message: v.message })),
        rulesChecked: RULE_ORDER,
        datasetId,
        numProfiles: out.profiles.length,
        seconds: nowSeconds() - t0,
      };
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
 * the prepared deadline, forwarding progress, collecting profiles and checking every rule of
 * the contract (GENERATION_RULES): the stream's shape here, the profiles with
 * profileViolations. `collectAll: false` (Generate) stops at the first broken rule and throws
 * FAILED_PRECONDITION naming the generator and the rule; `true` (TestGenerator) returns every
 * broken rule, once each, and reports the generator's failures (an error status, the
 * deadline) as broken rules too. Either way it stops reading once more profiles arrive than
 * were asked for, so a runaway generator costs bounded memory.
 */
async function runGenerator(
  g: Target,
  p: Prepared,
  opts: { collectAll: boolean; cancelled?: Cancellable; onProgress?: (progress: common.Progress) => Promise<void> },
): Promise<{ profiles: Profile[]; diagnostics: common.Metric[]; violations: RuleViolation[] }> {
  const where = `generator ${g.name} at ${g.address}`;
  const violations: RuleViolation[] = [];
  let thrown: RrError | undefined;
  const broke = (rule: GenerationRule, message: string): void => {
    if (!opts.collectAll) throw (thrown = ruleError(where, { rule, message }, '; nothing stored'));
    if (!violations.some((v) => v.rule === rule)) violations.push({ rule, message });
  };
  const { timeoutS } = p;
  // the built-in generators' server is a platform server (it gets the platform token); a plug-in never does
  const client = createClient(generator.AttackGeneratorClient, g.address, { external: !g.builtin });
  const stream = client.generateProfiles(p.request, { deadline: p.deadlineMs });
  const cancel = (): void => stream.cancel();
  opts.cancelled?.on('cancelled', cancel);
  const profiles: Profile[] = [];
  let done: generator.GenerationDone | undefined;
  let overflow = false;
  try {
    for await (const msg of iterate(stream)) {
      if (done) {
        broke('stream-done', 'a message came after the done message');
        continue;
      }
      if (msg.progress) await opts.onProgress?.({ ...msg.progress, phase: msg.progress.phase || 'generating' });
      else if (msg.profiles) {
        for (const f of msg.profiles.profiles) profiles.push({ name: f.name, items: f.items });
        if (profiles.length > p.rules.expected) {
          overflow = true;
          broke('count', `expected ${p.rules.expected} profiles, got more (stopped reading at ${profiles.length})`);
          break;
        }
      } else if (msg.done) done = msg.done;
      else broke('stream-message', 'a message set none of progress, profiles, done');
    }
  } catch (e) {
    if (e === thrown) throw e;
    const err = fromServiceError(e);
    if (opts.collectAll) {
      if (err.code === 'DEADLINE_EXCEEDED') broke('deadline', `the stream did not end within its ${timeoutS} s deadline`);
      else broke('answers', `the call ended with ${err.code}: ${err.message}`);
      return { profiles, diagnostics: [], violations };
    }
    if (err.code === 'DEADLINE_EXCEEDED') throw new RrError('DEADLINE_EXCEEDED', `${where} exceeded its ${timeoutS} s deadline; nothing stored`);
    if (err.code === 'UNAVAILABLE') throw unavailable(`${where} is unreachable: ${err.message}; nothing stored`);
    throw new RrError(err.code, err.message.startsWith(where) ? err.message : `${where}: ${err.message}`);
  } finally {
    opts.cancelled?.off('cancelled', cancel);
    stream.cancel(); // a no-op once the call ended; stops a generator we stopped reading
    client.close();
  }
  if (!overflow) {
    if (!done) broke('stream-done', 'the stream ended without a done message');
    else if (done.numProfiles !== profiles.length) broke('done-count', `done says ${done.numProfiles} profiles, ${profiles.length} received`);
  }
  for (const v of profileViolations(profiles, p.rules)) broke(v.rule, v.message);
  return { profiles, diagnostics: done?.diagnostics ?? [], violations };
}
