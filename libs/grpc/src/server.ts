import type { Http2Server, ServerHttp2Stream } from 'node:http2';
import {
  Server,
  ServerCredentials,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { publicMessage, toStatus } from './errors';
import { guardDefinition, isRejected } from './guard';
import { reflectionServices } from './reflection';
import { drainServer, Lifecycle } from './lifecycle';
import { authInterceptor, defaultSecurity, isSecured, serverCredentials, type SecurityConfig } from './security';

/** One gRPC service to serve: its generated definition, implementation and full name. */
export interface ServiceBinding {
  /** Fully qualified name, e.g. "robustrec.v1.DataService" (used by health checking). */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface RunningServer {
  server: Server;
  port: number;
  address: string;
  health: HealthImplementation;
  /** Readiness (health statuses) and the calls in flight. */
  lifecycle: Lifecycle;
  /** Health SERVING for these services (default all); until then they report NOT_SERVING. */
  markReady(names?: readonly string[]): void;
  /**
   * Graceful shutdown (drainServer): NOT_SERVING, stops accepting, lets in-flight calls
   * finish (up to graceMs), then cancels what is left.
   */
  shutdown(graceMs?: number): Promise<void>;
}

export interface ServerOptions {
  /**
   * Largest request message this server accepts (grpc.max_receive_message_length); larger
   * ones are refused with RESOURCE_EXHAUSTED before they are decoded. Size it to what the
   * service receives: most requests are tiny, uploads and streams come in chunks.
   */
  maxReceiveMessageBytes?: number;
  /** TLS and token check (security.ts); default this process's, from the environment. */
  security?: SecurityConfig;
  /**
   * Also serve grpc.health.v1 alone, in plaintext and without a token, on this address (default
   * ROBUSTREC_HEALTH_ADDRESS): Kubernetes' native gRPC probes speak neither TLS nor tokens.
   */
  healthAddress?: string;
}

/** Largest message a client accepts and a server sends; datasets are streamed in chunks well below this. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Default receive limit of a server: requests are small unless the service says otherwise. */
export const DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

function serverOptions(opts: ServerOptions): Record<string, number> {
  return {
    'grpc.max_receive_message_length': opts.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    // channelz bookkeeping costs tens of microseconds per call on each side; nothing here reads it
    'grpc.enable_channelz': 0,
    // ping clients idle for 2 minutes, so streams of clients that vanished are cancelled
    'grpc.keepalive_time_ms': 120_000,
    'grpc.keepalive_timeout_ms': 20_000,
  };
}

/**
 * A handler that first answers a request the guard rejected (see guard.ts), for handlers
 * not built with the adapters of handlers.ts (grpc-health-check's). Only methods with a
 * single request can be checked here; stream handlers must use the adapters.
 */
function guardHandler(streaming: boolean, handler: UntypedHandleCall): UntypedHandleCall {
  if (streaming) {
    const h = handler as handleServerStreamingCall<unknown, unknown>;
    return ((call) => (isRejected(call.request) ? void call.emit('error', toStatus(call.request.error)) : h(call))) as handleServerStreamingCall<unknown, unknown>;
  }
  const h = handler as handleUnaryCall<unknown, unknown>;
  return ((call, callback) => {
    if (isRejected(call.request)) return callback(toStatus(call.request.error));
    // their status messages get the same treatment as ours (grpc-health-check echoes the service name)
    h(call, (err, ...rest) => callback(err ? { ...err, details: publicMessage(err.details ?? '') } : err, ...rest));
  }) as handleUnaryCall<unknown, unknown>;
}

/** Adds a service with its request deserializers guarded (never throwing, see guard.ts). */
function addGuardedService(server: Server, definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
  // grpc-js finds a method's handler under its key or its originalName (grpc-health-check
  // implements "check" for the method keyed "Check"): look definitions up both ways
  const byName = new Map(Object.entries(definition).flatMap(([k, m]) => [[k, m] as const, ...(m.originalName ? [[m.originalName, m] as const] : [])]));
  const impl: UntypedServiceImplementation = {};
  for (const [name, h] of Object.entries(implementation)) {
    const m = byName.get(name);
    impl[name] = m && !m.requestStream ? guardHandler(m.responseStream, h) : h;
  }
  server.addService(guardDefinition(definition), impl);
}

/**
 * Drops the listeners of each HTTP/2 stream once it has closed, so a finished call's
 * objects are no longer reachable from its stream.
 *
 * Why: Node's HTTP/2 session tracks its streams in a Map that gains and loses an entry per
 * call. The session is long-lived, so that Map's table sits in V8's old space. Each rehash
 * (about one per 32 calls at 32 in flight) leaves the old table there, still pointing at the
 * streams of that moment, and young-generation GCs treat old-to-young pointers as roots
 * until the next full GC. Every stream caught in a rehash then survives two scavenges and is
 * promoted, together with grpc-js's per-call objects hanging off its listeners.
 * Measured on the 32-client unary load: ~2 MB promoted per scavenge and 4-9 ms scavenge
 * pauses, which stalled every call in flight. Without the listeners, a retained stream is a
 * few hundred bytes. grpc-js exposes no hook for its HTTP/2 servers; if a version renames the
 * field this returns false and the server works as before (a test checks it is installed).
 */
export function releaseClosedStreams(server: Server): boolean {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) return false;
  for (const h of http2Servers.keys() as Iterable<Http2Server>) {
    if (h.listeners('stream').includes(onStream)) continue;
    h.on('stream', onStream);
  }
  return true;
}

// 'close' is a stream's last event: nothing listens after it
const onStream = (stream: ServerHttp2Stream): void => void stream.once('close', () => stream.removeAllListeners());

/**
 * Starts a gRPC server with the given services plus grpc.health.v1 health checking and
 * server reflection (v1 and v1alpha, listing just these services), bound to `address`
 * (default an ephemeral loopback port). Every request of every method, health and
 * reflection included, is decoded through the request guard. Health reports NOT_SERVING
 * until the caller's markReady (see Lifecycle): a service binds first and calls it once its
 * stores are open and its workers started.
 */
export async function startServer(bindings: ServiceBinding[], address = '127.0.0.1:0', opts: ServerOptions = {}): Promise<RunningServer> {
  const health = new HealthImplementation();
  const lifecycle = new Lifecycle(health, bindings.map((b) => b.name));
  const security = opts.security ?? defaultSecurity();
  const server = new Server({
    ...serverOptions(opts),
    // no token configured: no interceptor at all (nothing to check, no per-call layer)
    interceptors: [lifecycle.interceptor, ...(security.token || security.acceptTokens?.length ? [authInterceptor(security)] : [])],
  });
  for (const b of bindings) addGuardedService(server, b.definition, b.implementation);
  // addToServer only calls addService: route it through the guard like everything else
  health.addToServer({ addService: (d: ServiceDefinition, i: UntypedServiceImplementation) => addGuardedService(server, d, i) } as unknown as Server);
  for (const r of reflectionServices(bindings.map((b) => b.name))) addGuardedService(server, r.definition, r.implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, serverCredentials(security), (err, p) => (err ? reject(err) : resolve(p))),
  );
  releaseClosedStreams(server);
  const host = address.slice(0, address.lastIndexOf(':'));
  if (!isLoopback(host) && !isSecured(security))
    console.warn(`[robustrec] ${bindings.map((b) => b.name).join(', ')} on ${address} without TLS and a token: anyone who reaches the port may call it (see docs/deploy.md, Security)`);
  const healthServer = await startHealthPort(health, lifecycle, opts.healthAddress ?? process.env.ROBUSTREC_HEALTH_ADDRESS, opts);
  return {
    server,
    port,
    address: `${host}:${port}`,
    health,
    lifecycle,
    markReady: (names) => lifecycle.markReady(names),
    shutdown: async (graceMs = 5000) => {
      await drainServer(server, lifecycle, graceMs);
      healthServer?.forceShutdown();
    },
  };
}

const isLoopback = (host: string): boolean => /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)$/.test(host);

/** The plaintext health-only port (see ServerOptions.healthAddress); undefined when none is asked for. */
async function startHealthPort(health: HealthImplementation, lifecycle: Lifecycle, address: string | undefined, opts: ServerOptions): Promise<Server | undefined> {
  if (!address) return undefined;
  // the lifecycle interceptor tracks its Watch streams, so a shutdown ends them like the main port's
  const s = new Server({ ...serverOptions(opts), 'grpc.max_receive_message_length': 4096, interceptors: [lifecycle.interceptor] });
  health.addToServer({ addService: (d: ServiceDefinition, i: UntypedServiceImplementation) => addGuardedService(s, d, i) } as unknown as Server);
  await new Promise<number>((resolve, reject) => s.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return s;
}
