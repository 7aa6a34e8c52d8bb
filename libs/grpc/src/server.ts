import type { Http2Server, ServerHttp2Stream } from 'node:http2';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '@robustrec/core';
import { drainServer, Lifecycle } from './lifecycle';

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

/** Largest message either side accepts; datasets are streamed in chunks well below this. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export const channelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // channelz bookkeeping costs tens of microseconds per call on each side; nothing here reads it
  'grpc.enable_channelz': 0,
};

let reflectionPackage: ReturnType<typeof loadSync> | undefined;

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? protoFiles(join(dir, e.name)) : e.name.endsWith('.proto') ? [join(dir, e.name)] : [],
  );
}

/** The platform's contracts (proto/) plus grpc.health.v1, loaded once for server reflection. */
function reflectionDefinitions(): ReturnType<typeof loadSync> {
  if (!reflectionPackage) {
    const protoDir = join(repoRoot, 'proto');
    const files = protoFiles(protoDir).map((f) => relative(protoDir, f));
    reflectionPackage = loadSync([...files, healthProtoPath], { includeDirs: [protoDir], keepCase: true });
  }
  return reflectionPackage;
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
 * server reflection (v1 and v1alpha), bound to `address` (default an ephemeral loopback port).
 * Health reports NOT_SERVING until the caller's markReady (see Lifecycle): a service binds
 * first and calls it once its stores are open and its workers started.
 */
export async function startServer(bindings: ServiceBinding[], address = '127.0.0.1:0'): Promise<RunningServer> {
  const health = new HealthImplementation();
  const lifecycle = new Lifecycle(health, bindings.map((b) => b.name));
  const server = new Server({ ...channelOptions, interceptors: [lifecycle.interceptor] });
  for (const b of bindings) server.addService(b.definition, b.implementation);
  health.addToServer(server);
  new ReflectionService(reflectionDefinitions()).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  releaseClosedStreams(server);
  const host = address.slice(0, address.lastIndexOf(':'));
  return {
    server,
    port,
    address: `${host}:${port}`,
    health,
    lifecycle,
    markReady: (names) => lifecycle.markReady(names),
    shutdown: async (graceMs = 5000) => void (await drainServer(server, lifecycle, graceMs)),
  };
}
