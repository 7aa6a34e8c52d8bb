import { loadPackageDefinition, type Client, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { deadlinePolicy } from './client';
import { channelCredentials, clientSecurityOptions, type SecurityConfig } from './security';

/**
 * grpcurl-style probes of any platform server, written against the public health and
 * reflection protos only (used by tests, the CLI's `status` command and deploy checks).
 */
const require = createRequire(import.meta.url);
const reflectionProto = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');

/** Probes are lookups: they get the lookup deadline of the policy like every other call. */
const deadline = (): { deadline: number } => ({ deadline: Date.now() + deadlinePolicy().lookup * 1000 });

function ctor(path: string, fq: string[]): ServiceClientConstructor {
  let o: unknown = loadPackageDefinition(loadSync(path, { keepCase: true, enums: String }));
  for (const p of fq) o = (o as GrpcObject)[p];
  return o as ServiceClientConstructor;
}

/**
 * grpc.health.v1.Health/Check; resolves to "SERVING", "NOT_SERVING", ... `security`: {} for
 * a plaintext health port (ServerOptions.healthAddress), default this process's configuration.
 */
export function checkHealth(address: string, service = '', security?: SecurityConfig): Promise<string> {
  const Health = ctor(healthProtoPath, ['grpc', 'health', 'v1', 'Health']);
  const c = new Health(address, channelCredentials(security), clientSecurityOptions(security)) as Client & Record<string, Function>;
  return new Promise((resolve, reject) =>
    c.Check({ service }, deadline(), (err: Error | null, res: { status: string }) => {
      c.close();
      return err ? reject(err) : resolve(res.status);
    }),
  );
}

/** Lists services through grpc.reflection.v1.ServerReflection. */
export function listServices(address: string): Promise<string[]> {
  const Reflection = ctor(reflectionProto, ['grpc', 'reflection', 'v1', 'ServerReflection']);
  const c = new Reflection(address, channelCredentials(), clientSecurityOptions()) as Client & Record<string, Function>;
  return new Promise((resolve, reject) => {
    const call = c.ServerReflectionInfo(deadline());
    call.on('data', (res: { list_services_response?: { service: { name: string }[] } }) => {
      resolve((res.list_services_response?.service ?? []).map((s) => s.name).sort());
      call.end();
    });
    call.on('error', (e: Error) => reject(e));
    call.on('end', () => c.close());
    call.write({ list_services: '*' });
  });
}

/** Asks reflection for the file defining a symbol; resolves to the number of file descriptors returned. */
export function fileContainingSymbol(address: string, symbol: string): Promise<number> {
  const Reflection = ctor(reflectionProto, ['grpc', 'reflection', 'v1', 'ServerReflection']);
  const c = new Reflection(address, channelCredentials(), clientSecurityOptions()) as Client & Record<string, Function>;
  return new Promise((resolve, reject) => {
    const call = c.ServerReflectionInfo(deadline());
    call.on('data', (res: { file_descriptor_response?: { file_descriptor_proto: Buffer[] }; error_response?: { error_message: string } }) => {
      if (res.error_response) reject(new Error(res.error_response.error_message));
      else resolve(res.file_descriptor_response?.file_descriptor_proto.length ?? 0);
      call.end();
    });
    call.on('error', (e: Error) => reject(e));
    call.on('end', () => c.close());
    call.write({ file_containing_symbol: symbol });
  });
}
