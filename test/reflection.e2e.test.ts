import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, createFileRegistry, fromBinary, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { credentials, loadPackageDefinition, type Client, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startPlatform, type Platform } from '@robustrec/orchestrator-service';
import { tempDir } from './helpers';

/**
 * Server reflection as a generic client sees it (grpcurl, or any language's reflection
 * client): the client here is built from the public reflection.proto with proto-loader,
 * and the descriptors it receives are decoded with @bufbuild/protobuf's registry, not with
 * anything of the project's.
 */
const require = createRequire(import.meta.url);
const reflectionProto = (v: string): string => join(dirname(require.resolve('@grpc/reflection/package.json')), `build/proto/grpc/reflection/${v}/reflection.proto`);

type Answer = {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
};

function reflect(address: string, request: Record<string, unknown>, version = 'v1'): Promise<Answer> {
  let o: unknown = loadPackageDefinition(loadSync(reflectionProto(version), { keepCase: true }));
  for (const p of ['grpc', 'reflection', version, 'ServerReflection']) o = (o as GrpcObject)[p];
  const c = new (o as ServiceClientConstructor)(address, credentials.createInsecure()) as Client & Record<string, Function>;
  return new Promise((resolve, reject) => {
    const call = c.ServerReflectionInfo({ deadline: Date.now() + 10_000 });
    call.on('data', (res: Answer) => {
      resolve(res);
      call.end();
    });
    call.on('error', reject);
    call.on('end', () => c.close());
    call.write(request);
  });
}

const EXPECTED: Record<string, string[]> = {
  data: ['robustrec.v1.DataService'],
  attack: ['robustrec.v1.AttackGenerator', 'robustrec.v1.AttackService'],
  trainer: ['robustrec.v1.TrainerService'],
  evaluator: ['inference.GRPCInferenceService', 'robustrec.v1.EvaluatorService', 'robustrec.v1.ModelRegistryService', 'robustrec.v1.ScoringService'],
};
const STANDARD = ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];

describe('server reflection for generic clients', () => {
  const tmp = tempDir('rr-reflection-');
  let platform: Platform;
  let ports: Record<string, string>;
  beforeAll(async () => {
    platform = await startPlatform({ home: tmp.dir });
    const e = platform.endpoints;
    ports = { data: e.data, attack: e.attackers[0]!, trainer: e.trainers[0]!, evaluator: e.evaluator };
  });
  afterAll(async () => {
    await platform?.shutdown();
    tmp.cleanup();
  });

  it('each port lists only what it serves, plus health and reflection (v1 and v1alpha)', async () => {
    for (const [proc, address] of Object.entries(ports))
      for (const version of ['v1', 'v1alpha']) {
        const res = await reflect(address, { list_services: '*' }, version);
        expect(res.list_services_response!.service.map((s) => s.name).sort(), `${proc} ${version}`).toEqual([...EXPECTED[proc]!, ...STANDARD].sort());
      }
  });

  it('file_by_filename knows the real file names; unknown ones are NOT_FOUND', async () => {
    const res = await reflect(ports.data!, { file_by_filename: 'robustrec/v1/data.proto' });
    const files = res.file_descriptor_response!.file_descriptor_proto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    expect(files[0]!.name).toBe('robustrec/v1/data.proto');
    expect(files.map((f) => f.name)).toContain('robustrec/v1/common.proto'); // its import comes along
    expect((await reflect(ports.data!, { file_by_filename: 'robustrec_v1.proto' })).error_response).toMatchObject({ error_code: 5 });
    // a service another port serves is not described here
    expect((await reflect(ports.data!, { file_containing_symbol: 'robustrec.v1.TrainerService' })).error_response).toMatchObject({ error_code: 5 });
  });

  it('a standard protobuf runtime accepts the descriptors: every method of every served service resolves, map entries included', async () => {
    let methods = 0;
    for (const [proc, address] of Object.entries(ports)) {
      const files = new Map<string, FileDescriptorProto>();
      for (const service of [...EXPECTED[proc]!, ...STANDARD]) {
        const res = await reflect(address, { file_containing_symbol: service });
        expect(res.error_response, `${proc} ${service}`).toBeUndefined();
        for (const b of res.file_descriptor_response!.file_descriptor_proto) {
          const f = fromBinary(FileDescriptorProtoSchema, b);
          files.set(f.name, f);
        }
      }
      // createFileRegistry resolves every type reference and refuses a malformed set; it wants
      // imports before the files importing them (reflection sends a file, then its imports)
      const ordered: FileDescriptorProto[] = [];
      const place = (f: FileDescriptorProto): void => {
        if (ordered.includes(f)) return;
        for (const d of f.dependency) place(files.get(d)!);
        ordered.push(f);
      };
      files.forEach(place);
      const registry: FileRegistry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
      const visit = (m: DescMessage, seen: Set<string>): void => {
        if (seen.has(m.typeName)) return;
        seen.add(m.typeName);
        for (const f of m.fields) {
          if (f.fieldKind === 'map') {
            const entry = m.proto.nestedType.find((n) => n.options?.mapEntry && f.proto.typeName.endsWith(`.${n.name}`));
            expect(entry?.name, `${m.typeName}.${f.name}`).toMatch(/Entry$/);
            if (f.mapKind === 'message') visit(f.message, seen);
          } else if (f.message) visit(f.message, seen);
        }
      };
      for (const service of [...EXPECTED[proc]!, ...STANDARD]) {
        const s = registry.getService(service);
        expect(s, service).toBeDefined();
        for (const m of s!.methods) {
          expect(registry.getMessage(m.input.typeName), `${service}.${m.name} input`).toBeDefined();
          expect(registry.getMessage(m.output.typeName), `${service}.${m.name} output`).toBeDefined();
          visit(m.input, new Set());
          visit(m.output, new Set());
          methods++;
        }
      }
      // the ComponentConfig.params map of the published contract, by its real entry name
      if (proc === 'trainer')
        expect(registry.getMessage('robustrec.v1.ComponentConfig')!.proto.nestedType.map((n) => [n.name, n.options?.mapEntry])).toEqual([
          ['ParamsEntry', true],
          ['OptionsEntry', true],
        ]);
    }
    expect(methods).toBeGreaterThanOrEqual(45);
  });
});
