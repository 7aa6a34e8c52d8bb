import { connectivityState, type credentials, Metadata, type CallOptions, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { invalidArgument, unavailable } from '@robustrec/core';
import { MAX_MESSAGE_BYTES } from './server';
import { fromServiceError, isServiceError } from './errors';
import { channelCredentials, clientSecurityOptions, defaultSecurity, type SecurityConfig } from './security';

export type ClientCtor<C> = (new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options?: object) => C) & { serviceName?: string };

// ---- deadlines -----------------------------------------------------------------------------

/**
 * Kinds of outbound call, each with its own deadline (the per-call deadline policy): no
 * call between services goes out without one, so a peer that hangs costs a bounded wait.
 * - lookup:   metadata reads and small writes (GetDataset, GetProfileSet, StartJob, lists)
 * - work:     requests that compute (imports, poisoning, PutProfileSet, Evaluate)
 * - transfer: dataset streams (FetchDataset) and model uploads / downloads
 * - watch:    long-lived streams (WatchJob, Generate) whose length is the work they follow
 */
export type CallKind = 'lookup' | 'work' | 'transfer' | 'watch';

export const DEFAULT_DEADLINES_S: Readonly<Record<CallKind, number>> = { lookup: 30, work: 1800, transfer: 1800, watch: 48 * 3600 };

/** Overrides, e.g. ROBUSTREC_DEADLINES="lookup=10,transfer=3600" (seconds per kind). */
export const DEADLINES_ENV = 'ROBUSTREC_DEADLINES';

let policy: Record<CallKind, number> | undefined;

function parsePolicy(text: string | undefined): Record<CallKind, number> {
  const p = { ...DEFAULT_DEADLINES_S };
  for (const part of (text ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = part.split('=').map((s) => s.trim());
    const s = Number(v);
    if (!(k! in p) || !(s > 0) || !Number.isFinite(s))
      throw invalidArgument(DEADLINES_ENV, `expected kind=seconds pairs with kinds ${Object.keys(p).join(', ')}, got ${JSON.stringify(part.slice(0, 40))}`);
    p[k as CallKind] = s;
  }
  return p;
}

/** The deadline policy in seconds: defaults, ROBUSTREC_DEADLINES, then any configureDeadlines overrides. */
export function deadlinePolicy(): Readonly<Record<CallKind, number>> {
  policy ??= parsePolicy(process.env[DEADLINES_ENV]);
  return policy;
}

/** Changes the deadline of some kinds for this process (seconds). */
export function configureDeadlines(overrides: Partial<Record<CallKind, number>>): void {
  const p = { ...deadlinePolicy() };
  for (const [k, s] of Object.entries(overrides)) if (s !== undefined) p[k as CallKind] = parsePolicy(`${k}=${s}`)[k as CallKind];
  policy = p;
}

/** Call options carrying the deadline of a kind of call (for streams, which `call` does not make). */
export function callOptions(kind: CallKind, deadlineMs?: number): Partial<CallOptions> {
  return { deadline: Date.now() + (deadlineMs ?? deadlinePolicy()[kind] * 1000) };
}

// ---- channels --------------------------------------------------------------------------------

/**
 * Keepalive: a client pings the server every `time` ms while calls are in flight on a
 * connection, and drops the connection when a ping is not answered within `timeout` ms. That is what ends a call on a connection that stopped moving (the one-long-id
 * hang of issue 15 left one half-closed): the call fails UNAVAILABLE instead of hanging.
 * Platform services are all grpc-js servers, which accept pings at any rate; external
 * generators may be other gRPC implementations, which by default refuse pings more often
 * than every 5 minutes, so their channels ping at that rate.
 */
const KEEPALIVE = { platform: { time: 20_000, timeout: 10_000 }, external: { time: 300_000, timeout: 20_000 } } as const;

export const channelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // channelz bookkeeping costs tens of microseconds per call on each side; nothing here reads it
  'grpc.enable_channelz': 0,
  'grpc.keepalive_time_ms': KEEPALIVE.platform.time,
  'grpc.keepalive_timeout_ms': KEEPALIVE.platform.timeout,
};

const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

const externalChannelOptions = { ...channelOptions, 'grpc.keepalive_time_ms': KEEPALIVE.external.time, 'grpc.keepalive_timeout_ms': KEEPALIVE.external.timeout };

/**
 * Creates a generated ts-proto client for an address with the platform's channel options.
 * `external`: a peer outside the platform (an attack generator plug-in), pinged gently and
 * never sent the platform's token.
 * TLS and the bearer token: this process's configuration (security.ts) unless `security`
 * gives another; `options` adds channel options (reconnect backoff, ...).
 */
export function createClient<C extends Client>(
  Ctor: ClientCtor<C>,
  address: string,
  opts: { external?: boolean; security?: SecurityConfig; options?: Record<string, unknown> } = {},
): C {
  const sec = opts.security ?? defaultSecurity();
  return new Ctor(address, channelCredentials(sec), {
    ...(opts.external ? externalChannelOptions : channelOptions),
    // a name with several A records (a headless Service of scoring pods): balance per call
    ...(address.startsWith('dns:') ? { 'grpc.service_config': ROUND_ROBIN } : {}),
    // the platform's token never goes to a plug-in outside the platform
    ...clientSecurityOptions(opts.external ? { ...sec, token: undefined } : sec),
    ...opts.options,
  });
}

/**
 * Clients a service keeps for its dependencies, one per (service, address), each with a
 * connection of its own (not grpc-js's process-wide subchannel pool, which would hand a
 * broken connection to every client of that address). A client whose call failed in a way
 * that points at the connection (UNAVAILABLE, DEADLINE_EXCEEDED, a transport error) or whose
 * channel is in TRANSIENT_FAILURE or SHUTDOWN is retired: the next peerClient call builds a
 * new one on a new connection. Calls already running on the old one finish there (closing
 * a grpc-js channel only refuses new calls).
 */
const peers = new Map<string, Client>();
const peerKeys = new WeakMap<Client, string>();

export function peerClient<C extends Client>(Ctor: ClientCtor<C>, address: string): C {
  const key = `${Ctor.serviceName ?? Ctor.name}@${address}`;
  const cached = peers.get(key) as C | undefined;
  if (cached) {
    const st = cached.getChannel().getConnectivityState(false);
    if (st !== connectivityState.TRANSIENT_FAILURE && st !== connectivityState.SHUTDOWN) return cached;
    retirePeer(cached);
  }
  const c = new Ctor(address, channelCredentials(), { ...channelOptions, ...clientSecurityOptions(), 'grpc.use_local_subchannel_pool': 1 });
  peers.set(key, c);
  peerKeys.set(c, key);
  return c;
}

/** Stops handing out this peer client (its in-flight calls finish) and closes its channel. */
export function retirePeer(client: Client): void {
  const key = peerKeys.get(client);
  if (key && peers.get(key) === client) peers.delete(key);
  client.close();
}

/** Closes every cached peer client (service shutdown); later peerClient calls make new ones. */
export function closePeers(): void {
  for (const c of [...peers.values()]) retirePeer(c);
}

const TRANSPORT_FAILURE = /RST_STREAM|Protocol error|Connection dropped|session|socket|ECONNRESET|GOAWAY/i;

/** Whether a failed call says more about the connection than about the request. */
export function isConnectionFailure(e: unknown): boolean {
  if (!isServiceError(e)) return false;
  if (e.code === 14 || e.code === 4) return true; // UNAVAILABLE, DEADLINE_EXCEEDED
  return e.code === 13 && TRANSPORT_FAILURE.test(e.details ?? ''); // INTERNAL raised by the transport
}

/** Retires a peer client when a call on it failed in a way that points at its connection. */
export function reportFailure(client: Client, e: unknown): void {
  if (peerKeys.has(client) && isConnectionFailure(e)) retirePeer(client);
}

/** Waits until the client's channel is connected (throws UNAVAILABLE-like RrError after timeoutMs). */
export function waitForReady(client: Client, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(unavailable(`${client.getChannel().getTarget()}: ${err.message}`)) : resolve())),
  );
}

type UnaryMethod<Req, Res> = ((
  req: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown) & { path?: string };

const peerName = (client: Client, method: { path?: string }): string => `${client.getChannel().getTarget().replace(/^dns:/, '')} ${method.path ?? ''}`.trim();

/**
 * Calls a unary method and returns a promise, always under a deadline: the kind's from the
 * deadline policy (default "lookup"), or `deadlineMs`. Errors become RrErrors with the
 * server's status code, so a service can forward a peer's NOT_FOUND as its own NOT_FOUND;
 * a peer's UNIMPLEMENTED becomes FAILED_PRECONDITION naming it (see fromServiceError).
 */
export function call<Req, Res>(
  client: Client,
  method: UnaryMethod<Req, Res>,
  req: Req,
  opts: { kind?: CallKind; deadlineMs?: number } = {},
): Promise<Res> {
  const options = callOptions(opts.kind ?? 'lookup', opts.deadlineMs);
  return new Promise((resolve, reject) =>
    method.call(client, req, new Metadata(), options, (err: ServiceError | null, res: Res) => {
      if (!err) return resolve(res);
      reportFailure(client, err);
      reject(fromServiceError(err, undefined, peerName(client, method)));
    }),
  );
}

/**
 * Iterates a server stream, converting errors to RrErrors. Open the stream with
 * callOptions(kind) so it has a deadline; pass the client when it is a peerClient, so that
 * a connection failure retires it.
 */
export async function* iterate<Res>(stream: ClientReadableStream<Res>, client?: Client): AsyncGenerator<Res> {
  try {
    for await (const msg of stream as AsyncIterable<Res>) yield msg;
  } catch (e) {
    if (client) reportFailure(client, e);
    throw fromServiceError(e, undefined, client ? client.getChannel().getTarget().replace(/^dns:/, '') : undefined);
  }
}

/** A server stream's messages until `stop` holds for one (kept) or the stream ends; then cancels it. */
export async function collectUntil<Res>(stream: ClientReadableStream<Res>, stop: (msg: Res) => boolean): Promise<Res[]> {
  const out: Res[] = [];
  try {
    for await (const msg of iterate(stream)) {
      out.push(msg);
      if (stop(msg)) break;
    }
  } finally {
    stream.cancel();
  }
  return out;
}
