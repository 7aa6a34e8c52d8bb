import type { ServerWritableStream } from '@grpc/grpc-js';
import { builtinSpec, generators, resolveAttack, type GenerateOutput, type ResolvedAttack } from '@robustrec/attacks';
import { common, generator } from '@robustrec/contracts';
import { checkMemory, invalidArgument, permissionDenied, RrError, startTsWorker, type Csr, type ErrorCode } from '@robustrec/core';
import { fetchInteractionData, serverStream, unary, writeMessage } from '@robustrec/grpc';
import { requestFromProto } from './convert';
import type { WorkerInput, WorkerMessage } from './worker';

/** Profiles per chunk message: well below the gRPC message limit even for long profiles. */
const CHUNK = 1000;

/** Genuine users' rows only: the black-box attacker never sees injected fake users. */
export function genuineRows(train: Csr, numGenuine: number): Csr {
  return { numRows: numGenuine, numCols: train.numCols, indptr: train.indptr.subarray(0, numGenuine + 1), indices: train.indices.subarray(0, train.indptr[numGenuine]!) };
}

/**
 * The AttackGenerator contract served for the built-in generators, so that built-in and
 * external generators go through exactly the same Generate path (deadline, stream
 * parsing, validation). The request's config.generator.name picks the built-in.
 */
export interface BuiltinGeneratorOptions {
  /**
   * Data-service addresses GenerateProfiles may read from: the attack service's configured
   * data address and any it was given besides. A caller cannot point this process at
   * another address (server-side request forgery: a port scanner with our network position).
   */
  allowedDataAddresses: () => readonly string[];
  /** Memory budget in bytes (see @robustrec/core memoryBudget). */
  memoryBudgetBytes: number;
}

/** host:port with the host lower-cased and "localhost" / [::1] written as 127.0.0.1, for comparisons. */
export function normalizeAddress(a: string): string {
  const s = a.trim().replace(/^dns:(\/\/\/)?/, '').toLowerCase();
  const at = s.lastIndexOf(':');
  const host = at < 0 ? s : s.slice(0, at);
  const port = at < 0 ? '' : s.slice(at);
  return `${host === 'localhost' || host === '[::1]' ? '127.0.0.1' : host}${port}`;
}

/** The same refusal whatever is (or is not) listening there, so the answer reveals nothing about the address. */
export function checkDataAddress(address: string, allowed: readonly string[]): void {
  const a = normalizeAddress(address);
  if (!allowed.some((x) => normalizeAddress(x) === a))
    throw permissionDenied('data_service_address: not a data service this attack service is configured to read from');
}

/** Refuses an attack whose profiles alone would exceed the memory budget (RESOURCE_EXHAUSTED naming the field). */
export function checkAttackMemory(cfg: { numFakeUsers: number; profileLength: number }, budget: number): void {
  // a profile item costs ~8 bytes in a JS array, again in the proto message, and once more in the stored set
  checkMemory('config.num_fake_users', cfg.numFakeUsers * cfg.profileLength * 24 + cfg.numFakeUsers * 64, budget, `${cfg.numFakeUsers} profiles of ${cfg.profileLength} items`);
}

export function builtinGeneratorServer(opts: BuiltinGeneratorOptions): generator.AttackGeneratorServer {
  return {
    describe: unary(async () => ({
      generator: {
        name: 'builtin',
        description: `RobustRec built-in generators (pick one with config.generator.name): ${[...generators.keys()].join(', ')}`,
        builtin: true,
        address: '',
        defaultParams: {},
        defaultOptions: {},
        params: [],
        options: [],
        whiteBox: false,
      },
    })),
    generateProfiles: serverStream(async (req: generator.GenerateProfilesRequest, call: ServerWritableStream<generator.GenerateProfilesRequest, generator.GenerateProfilesResponse>) => {
      const name = req.config?.generator?.name ?? '';
      if (!generators.has(name)) throw invalidArgument('config.generator.name', `not a built-in generator: ${JSON.stringify(name)}`);
      if (!req.dataServiceAddress) throw invalidArgument('data_service_address', 'required');
      checkDataAddress(req.dataServiceAddress, opts.allowedDataAddresses());
      // the built-ins are the platform's own code and read as a platform service (no token): the
      // data service of a deployment need not share the token key for them (only TRAIN is read)
      const { data } = await fetchInteractionData(req.dataServiceAddress, req.datasetId, [common.Split.SPLIT_TRAIN]);
      const train = genuineRows(data.train, data.numGenuineUsers);
      const cfg = resolveAttack(requestFromProto(req.config!), train, data.numItems, builtinSpec(name));
      checkAttackMemory(cfg, opts.memoryBudgetBytes);
      const out = await runInWorker(cfg, train, data.numItems, call);
      for (let i = 0; i < out.profiles.length; i += CHUNK)
        await writeMessage(call, { profiles: { profiles: out.profiles.slice(i, i + CHUNK) } });
      await writeMessage(call, { done: { numProfiles: out.profiles.length, diagnostics: out.diagnostics ?? [] } });
    }),
  };
}

type Call = ServerWritableStream<generator.GenerateProfilesRequest, generator.GenerateProfilesResponse>;

/**
 * Runs the generator in a worker thread, forwarding progress (at most every 200 ms) and
 * terminating the worker when the caller cancels or its deadline passes.
 */
function runInWorker(cfg: ResolvedAttack, train: Csr, numItems: number, call: Call): Promise<GenerateOutput> {
  // copies: a view would clone its whole backing buffer into the worker
  const input: WorkerInput = { cfg, train: { numRows: train.numRows, numCols: train.numCols, indptr: train.indptr.slice(), indices: train.indices.slice() }, numItems };
  const worker = startTsWorker(new URL('./worker.ts', import.meta.url), input as unknown as Record<string, unknown>);
  return new Promise<GenerateOutput>((resolve, reject) => {
    let last = 0;
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      call.off('cancelled', onCancel);
      void worker.terminate();
      fn();
    };
    const onCancel = (): void => finish(() => reject(new RrError('CANCELLED', 'generation cancelled by the caller')));
    call.on('cancelled', onCancel);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') {
        const now = Date.now();
        if (now - last < 200 && m.event.done !== m.event.total) return;
        last = now;
        const e = m.event;
        writeMessage(call, { progress: { phase: e.phase, done: e.done, total: e.total, etaSeconds: -1, message: e.message ?? '' } }).catch(onCancel);
      } else if (m.type === 'done') finish(() => resolve(m.output));
      else finish(() => reject(new RrError(m.code as ErrorCode, m.message)));
    });
    worker.on('error', (e) => finish(() => reject(new RrError('INTERNAL', `generator worker failed: ${e.message}`))));
    worker.on('exit', (code) => finish(() => reject(new RrError('INTERNAL', `generator worker exited with code ${code}`))));
  });
}
