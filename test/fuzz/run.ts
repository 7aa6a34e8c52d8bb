import { create, fromBinary, toBinary, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { constants } from 'node:http2';
import { repoRoot } from '@robustrec/core';
import { FuzzRng } from './rng';
import { encode, hostileField, loadRegistry, messagesIn, validInit, type Pools, type Rpc } from './schema';
import { frame, WireClient, type Send, type WireResult } from './wire';
import { startFuzzPlatform, type FuzzPlatform } from './platform';

/**
 * The fuzzer: every RPC of every service, as each port lists them through reflection, gets
 * a seeded, deterministic sequence of hostile requests over hand-written gRPC framing
 * (wire.ts). Checked: no process crashes, no call without a status past its deadline plus
 * slack, no status message with a stack trace or a file path outside the data root, every
 * SQLite store passes integrity_check, and an honest request to every service still works.
 */

export const CODE_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

export type Strategy =
  | 'valid'
  | 'mutate-field'
  | 'wrong-wire-type'
  | 'repeat-field'
  | 'random-bytes'
  | 'truncated'
  | 'prefix-short'
  | 'prefix-long'
  | 'prefix-4GiB'
  | 'compressed-flag'
  | 'rst-mid-message'
  | 'half-closed'
  | 'no-message'
  | 'two-messages'
  | 'bad-headers';

const WEIGHTS: Record<Strategy, number> = {
  valid: 14,
  'mutate-field': 30,
  'wrong-wire-type': 9,
  'repeat-field': 8,
  'random-bytes': 8,
  truncated: 6,
  'prefix-short': 3,
  'prefix-long': 3,
  'prefix-4GiB': 2,
  'compressed-flag': 2,
  'rst-mid-message': 4,
  'half-closed': 3,
  'no-message': 3,
  'two-messages': 2,
  'bad-headers': 3,
};

export interface FuzzOptions {
  seed: number;
  count: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Deadline sent with every call (grpc-timeout), ms. */
  deadlineMs?: number;
  /** A call with no status by deadline + slack is a hang. */
  slackMs?: number;
  log?: (line: string) => void;
}

export interface Finding {
  rpc: string;
  strategy: string;
  detail: string;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  perRpc: Record<string, Record<string, number>>;
  perCode: Record<string, number>;
  perStrategy: Record<string, number>;
  /** Outcomes per strategy (where INTERNAL or NO_STATUS answers come from). */
  perStrategyCode: Record<string, Record<string, number>>;
  crashes: string[];
  hangs: Finding[];
  leaks: Finding[];
  /** OK answers whose messages do not decode as the method's output type. */
  badResponses: Finding[];
  /** Calls ended without a gRPC status (stream reset, connection closed): counted, not failures. */
  noStatus: number;
  integrity: Record<string, string>;
  honest: Record<string, string>;
  /** A few distinct status messages per code (what the answers say), with the RPC and strategy. */
  samples: Record<string, string[]>;
  seconds: number;
  services: Record<string, string[]>;
}

/** Stack frames, file URLs, source positions. */
const STACK = /\n\s+at\s|\bat\s+\S+\s+\((?:file|node|\/)|node:internal|file:\/\/|\.[cm]?[jt]s:\d+:\d+/;
/** An absolute path starting with a real top-level directory. */
const ABS_PATH = /(?<![\w.\-/~])\/(bin|boot|dev|etc|home|lib|lib64|media|mnt|opt|proc|root|run|sbin|srv|sys|tmp|usr|var|work|Users)(\/[^\s'"`,;)\]}]*)?/g;

/** The leaks in a status message: stack traces, and absolute paths outside `allowed`. */
export function leaksIn(message: string, allowed: readonly string[]): string | undefined {
  if (STACK.test(message)) return 'stack trace';
  for (const m of message.matchAll(ABS_PATH)) {
    const p = m[0];
    if (!allowed.some((r) => p === r || p.startsWith(`${r}/`))) return `path ${p}`;
  }
  return undefined;
}

/** The services each port lists through grpc.reflection.v1, asked over the raw wire. */
async function listServices(reg: FileRegistry, address: string): Promise<string[]> {
  const req = reg.getMessage('grpc.reflection.v1.ServerReflectionRequest')!;
  const res = reg.getMessage('grpc.reflection.v1.ServerReflectionResponse')!;
  const c = new WireClient(address);
  try {
    const body = toBinary(req, create(req, { messageRequest: { case: 'listServices', value: '*' } } as never));
    const r = await c.call('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', { chunks: [frame(body)] }, 10_000);
    if (r.code !== 0 || !r.messages[0]) throw new Error(`reflection on ${address}: ${r.code} ${r.message}`);
    const m = fromBinary(res, r.messages[0]) as unknown as { messageResponse: { case: string; value: { service: Array<{ name: string }> } } };
    return m.messageResponse.value.service.map((s) => s.name);
  } finally {
    c.close();
  }
}

/** The request of one fuzz step: what to send and how it was made. */
interface Step {
  rpc: Rpc;
  strategy: Strategy;
  send: Send;
  label: string;
}

function plan(rng: FuzzRng, rpcs: Rpc[], pools: Pools, deadlineMs: number): Step {
  const rpc = rng.pick(rpcs);
  const input = rpc.method.input;
  const streaming = rpc.method.methodKind === 'client_streaming' || rpc.method.methodKind === 'bidi_streaming';
  const strategy = rng.weighted(WEIGHTS);
  const validBytes = (): Uint8Array => encode(input, validInit(input, pools, rng));
  // requests of a streaming method: 1-3 valid messages (a RegisterModel header first)
  const validMessages = (): Uint8Array[] => {
    if (rpc.method.name === 'RegisterModel') {
      const shape = [1 + rng.int(8), 1 + rng.int(8)];
      const header = validInit(input, pools, rng);
      header.payload = {
        case: 'header',
        value: { name: 'fuzz-upload', backbone: 'mf', numUsers: shape[0], numItems: shape[1], tensors: [{ name: 'user_emb', shape }, { name: 'item_emb', shape }] },
      };
      const chunk = (name: string): Uint8Array => encode(input, { payload: { case: 'chunk', value: { name, offset: 0n, data: rng.bytes(4 * shape[0]! * shape[1]!) } } });
      return [encode(input, header), chunk('user_emb'), chunk('item_emb')];
    }
    return Array.from({ length: streaming ? 1 + rng.int(3) : 1 }, validBytes);
  };
  const framed = (msgs: Uint8Array[]): Buffer[] => msgs.map((m) => frame(m));
  let send: Send = { chunks: [] };
  let label: string = strategy;
  switch (strategy) {
    case 'valid':
      send = { chunks: framed(validMessages()) };
      break;
    case 'mutate-field':
    case 'wrong-wire-type':
    case 'repeat-field': {
      const init = validInit(input, pools, rng);
      const targets = messagesIn(init, input).filter((t) => t.desc.fields.length > 0);
      if (!targets.length) {
        send = { chunks: [frame(rng.bytes(rng.int(32)))] };
        label = 'random-bytes(no fields)';
        break;
      }
      const t = rng.pick(targets);
      const f = rng.pick(t.desc.fields);
      let fields: Array<{ no: number; wireType: number; data: Uint8Array }>;
      if (strategy === 'repeat-field') {
        const one = hostileField(f, rng, pools, false);
        // a huge repetition of one field (200 splits, thousands of ks or users), capped near 4 MB
        const n = Math.min(rng.pick([200, 2000, 100_000]), Math.max(1, Math.floor((4 << 20) / Math.max(1, one.data.length + 2))));
        fields = Array.from({ length: n }, () => ({ no: f.number, wireType: one.wireType, data: one.data }));
        label = `repeat-field x${n} ${f.name}`;
      } else {
        const h = hostileField(f, rng, pools, strategy === 'wrong-wire-type');
        fields = [{ no: f.number, ...h }];
        label = `${strategy} ${f.name} ${h.label}`;
      }
      const msg = encode(input, init, { target: t.obj, fields });
      const others = streaming ? validMessages().slice(0, rng.int(3)) : [];
      send = { chunks: framed(rng.chance(0.5) ? [msg, ...others] : [...others, msg]) };
      break;
    }
    case 'random-bytes':
      send = { chunks: Array.from({ length: streaming ? 1 + rng.int(3) : 1 }, () => (rng.chance(0.7) ? frame(rng.bytes(rng.int(200))) : Buffer.from(rng.bytes(1 + rng.int(40))))) };
      break;
    case 'truncated': {
      const b = validBytes();
      send = { chunks: [frame(b.subarray(0, rng.int(Math.max(1, b.length))))] };
      break;
    }
    case 'prefix-short': {
      const b = validBytes();
      send = { chunks: [frame(b, { length: rng.int(Math.max(1, b.length)) })] };
      break;
    }
    case 'prefix-long': {
      const b = validBytes();
      send = { chunks: [frame(b, { length: b.length + 1 + rng.int(1000) })] };
      break;
    }
    case 'prefix-4GiB':
      send = { chunks: [frame(validBytes(), { length: 0xffffffff })] };
      break;
    case 'compressed-flag':
      send = { chunks: [frame(rng.chance(0.5) ? validBytes() : rng.bytes(30), { compressed: true })], headers: rng.chance(0.5) ? { 'grpc-encoding': rng.pick(['gzip', 'deflate', 'br', 'identity']) } : {} };
      label = `compressed-flag ${send.headers?.['grpc-encoding'] ?? 'no-encoding'}`;
      break;
    case 'rst-mid-message': {
      const f = frame(validBytes());
      send = { chunks: [f.subarray(0, Math.max(1, rng.int(f.length)))], reset: true, end: false };
      break;
    }
    case 'half-closed':
      // a whole message, then silence: the server must still end the call at the deadline
      send = { chunks: framed(validMessages()), end: false };
      break;
    case 'no-message':
      send = { chunks: [] };
      break;
    case 'two-messages':
      send = { chunks: framed([validBytes(), validBytes()]) };
      break;
    case 'bad-headers': {
      const which = rng.int(4);
      const valid = framed(validMessages());
      // unparsable timeouts (grpc-js reads any 1-8 digits followed by a unit somewhere in the
      // value as a deadline, so "99999999999S" would be a deadline of 3 years, not an error)
      if (which === 0) send = { chunks: valid, headers: { 'grpc-timeout': rng.pick(['abc', '1x', 'm', '']) }, grpcTimeoutMs: 0 };
      else if (which === 1) send = { chunks: valid, headers: { 'content-type': rng.pick(['text/plain', 'application/json', 'application/grpc+json']) } };
      else if (which === 2) send = { chunks: valid, headers: { [constants.HTTP2_HEADER_PATH]: `${rpc.path}x` } };
      else send = { chunks: valid, headers: { 'grpc-encoding': 'snappy' } };
      label = `bad-headers ${which}`;
      break;
    }
  }
  send.grpcTimeoutMs ??= deadlineMs;
  return { rpc, strategy, send, label };
}

/** Whether an answer's messages decode as the method's output (a check on OK answers). */
function decodes(out: DescMessage, msgs: Buffer[]): boolean {
  try {
    for (const m of msgs) fromBinary(out, m);
    return true;
  } catch {
    return false;
  }
}

/** Runs a fuzz campaign against a fresh platform; the report says what it found. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log ?? (() => undefined);
  const deadlineMs = opts.deadlineMs ?? 5000;
  const slackMs = opts.slackMs ?? 5000;
  const t0 = performance.now();
  const reg = loadRegistry(repoRoot);
  const platform = await startFuzzPlatform({ log });
  try {
    return await campaign(platform, reg, opts, deadlineMs, slackMs, t0, log);
  } finally {
    await platform.stop();
    platform.cleanup();
  }
}

async function campaign(
  platform: FuzzPlatform,
  reg: FileRegistry,
  opts: FuzzOptions,
  deadlineMs: number,
  slackMs: number,
  t0: number,
  log: (line: string) => void,
): Promise<FuzzReport> {
  const services: Record<string, string[]> = {};
  const rpcs: Rpc[] = [];
  for (const [proc, address] of Object.entries(platform.addresses)) {
    services[proc] = await listServices(reg, address);
    for (const name of services[proc]!) {
      const s = reg.getService(name);
      if (!s) throw new Error(`${proc} lists ${name}, which is not in the descriptors`);
      for (const m of s.methods) rpcs.push({ service: name, method: m, path: `/${name}/${m.name}`, address, proc });
    }
  }
  rpcs.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.address < b.address ? -1 : 1));
  log(`${rpcs.length} RPCs across ${Object.keys(services).length} processes`);

  const rng = new FuzzRng(opts.seed);
  // one connection per worker and server, so a connection the server drops costs one worker's call
  const clients = new Map<string, WireClient>();
  const client = (w: number, a: string): WireClient => {
    let c = clients.get(`${w}@${a}`);
    if (!c) clients.set(`${w}@${a}`, (c = new WireClient(a)));
    return c;
  };
  const report: FuzzReport = {
    seed: opts.seed,
    requests: 0,
    perRpc: {},
    perCode: {},
    perStrategy: {},
    perStrategyCode: {},
    crashes: platform.crashes,
    hangs: [],
    leaks: [],
    badResponses: [],
    noStatus: 0,
    integrity: {},
    honest: {},
    samples: {},
    seconds: 0,
    services,
  };
  const allowed = [platform.root];
  const bump = (o: Record<string, number>, k: string): void => void (o[k] = (o[k] ?? 0) + 1);
  const record = (step: Step, r: WireResult): void => {
    const name = `${step.rpc.service.replace(/^robustrec\.v1\./, '')}/${step.rpc.method.name}`;
    const outcome = r.code !== undefined ? (CODE_NAMES[r.code] ?? `CODE_${r.code}`) : r.hung ? 'HANG' : r.reset ? 'RESET_BY_FUZZER' : 'NO_STATUS';
    report.requests++;
    bump((report.perRpc[name] ??= {}), outcome);
    bump(report.perCode, outcome);
    bump(report.perStrategy, step.strategy);
    bump((report.perStrategyCode[step.strategy] ??= {}), outcome);
    const seen = (report.samples[outcome] ??= []);
    const said = (r.message || r.transportError || '').slice(0, 160);
    if (seen.length < 12 && r.code !== 0 && !seen.some((x) => x.endsWith(`: ${said}`))) seen.push(`${name} [${step.label}]: ${said}`);
    if (r.hung) report.hangs.push({ rpc: name, strategy: step.label, detail: `no status after ${Math.round(r.ms)} ms` });
    if (r.code === undefined && !r.hung && !r.reset) report.noStatus++;
    const leak = r.message ? leaksIn(r.message, allowed) : undefined;
    if (leak) report.leaks.push({ rpc: name, strategy: step.label, detail: `${outcome}: ${leak}: ${r.message.slice(0, 300)}` });
    if (r.code === 0 && !decodes(step.rpc.method.output, r.messages)) report.badResponses.push({ rpc: name, strategy: step.label, detail: `${r.messages.length} messages` });
  };

  let next = 0;
  const worker = async (w: number): Promise<void> => {
    while (next < opts.count && platform.crashes.length === 0) {
      next++;
      const step = plan(rng, rpcs, platform.pools, deadlineMs);
      const r = await client(w, step.rpc.address).call(step.rpc.path, step.send, deadlineMs + slackMs);
      record(step, r);
      if (report.requests % 500 === 0) log(`${report.requests} requests, ${Object.entries(report.perCode).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, (_, w) => worker(w)));
  for (const c of clients.values()) c.close();
  // give a service that is about to die the chance to do so before the checks
  await new Promise((r) => setTimeout(r, 500));
  report.honest = await platform.honest();
  report.integrity = platform.integrity();
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

/** Failures of a report (empty when the campaign passed). */
export function failures(r: FuzzReport): string[] {
  const out: string[] = [];
  if (r.crashes.length) out.push(`${r.crashes.length} process crashes:\n${r.crashes.join('\n')}`);
  if (r.hangs.length) out.push(`${r.hangs.length} hangs: ${JSON.stringify(r.hangs.slice(0, 10))}`);
  if (r.leaks.length) out.push(`${r.leaks.length} leaking messages: ${JSON.stringify(r.leaks.slice(0, 10))}`);
  if (r.badResponses.length) out.push(`${r.badResponses.length} undecodable OK answers: ${JSON.stringify(r.badResponses.slice(0, 10))}`);
  for (const [db, v] of Object.entries(r.integrity)) if (v !== 'ok') out.push(`${db}: integrity_check says ${v}`);
  if (!Object.keys(r.integrity).length) out.push('no SQLite store found to check');
  for (const [k, v] of Object.entries(r.honest)) if (v !== 'ok') out.push(`honest request ${k} failed: ${v}`);
  return out;
}

/** The report as text: counts per status code, per RPC, then the findings. */
export function formatReport(r: FuzzReport): string {
  const codes = Object.keys(r.perCode).sort((a, b) => r.perCode[b]! - r.perCode[a]!);
  const lines = [
    `fuzz seed ${r.seed}: ${r.requests} requests in ${r.seconds.toFixed(1)} s`,
    `services: ${Object.entries(r.services).map(([p, s]) => `${p}=[${s.join(', ')}]`).join(' ')}`,
    '',
    'per status code:',
    ...codes.map((c) => `  ${c.padEnd(20)} ${String(r.perCode[c]).padStart(7)}`),
    '',
    'per strategy:',
    ...Object.entries(r.perStrategy)
      .sort((a, b) => b[1] - a[1])
      .map(([s, n]) => `  ${s.padEnd(20)} ${String(n).padStart(7)}   ${Object.entries(r.perStrategyCode[s] ?? {}).sort((a, b) => b[1] - a[1]).map(([c, k]) => `${c} ${k}`).join(', ')}`),
    '',
    'per RPC:',
    ...Object.keys(r.perRpc)
      .sort()
      .map((rpc) => `  ${rpc.padEnd(52)} ${Object.entries(r.perRpc[rpc]!).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`),
    '',
    'sample messages:',
    ...codes.filter((c) => c !== 'OK' && r.samples[c]?.length).flatMap((c) => [`  ${c}:`, ...r.samples[c]!.map((m) => `    ${m}`)]),
    '',
    `crashes: ${r.crashes.length}   hangs: ${r.hangs.length}   leaks: ${r.leaks.length}   undecodable OK answers: ${r.badResponses.length}   calls ended without status: ${r.noStatus}`,
    `integrity_check: ${Object.entries(r.integrity).map(([db, v]) => `${db}=${v}`).join(', ')}`,
    `honest requests after: ${Object.entries(r.honest).map(([k, v]) => `${k}=${v}`).join(', ')}`,
  ];
  const f = failures(r);
  lines.push('', f.length ? `FAILED:\n${f.join('\n')}` : 'PASSED: 0 crashes, 0 hangs, 0 leaks, integrity ok, honest requests ok');
  return lines.join('\n');
}
