import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '@robustrec/core';

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
  /** Graceful shutdown: stops accepting, lets in-flight calls finish (up to graceMs), then forces. */
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
 * Starts a gRPC server with the given services plus grpc.health.v1 health checking and
 * server reflection (v1 and v1alpha), bound to `address` (default an ephemeral loopback port).
 */
export async function startServer(bindings: ServiceBinding[], address = '127.0.0.1:0'): Promise<RunningServer> {
  const server = new Server(channelOptions);
  for (const b of bindings) server.addService(b.definition, b.implementation);
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(bindings.map((b) => [b.name, 'SERVING' as const])) });
  health.addToServer(server);
  new ReflectionService(reflectionDefinitions()).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const host = address.slice(0, address.lastIndexOf(':'));
  return {
    server,
    port,
    address: `${host}:${port}`,
    health,
    shutdown: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        for (const b of bindings) health.setStatus(b.name, 'NOT_SERVING');
        health.setStatus('', 'NOT_SERVING');
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
