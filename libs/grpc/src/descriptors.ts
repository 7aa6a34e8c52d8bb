import { create, createFileRegistry, fromBinary, toBinary, type DescFile, type DescMethod, type DescService, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@robustrec/core';

/**
 * The compiled descriptors of every service a platform port serves, as `npm run generate`
 * builds them with buf (libs/contracts/generate.mjs): our contracts exactly as in proto/
 * (real file names, map-entry types, comments), plus grpc.health.v1 and
 * grpc.reflection.v1/v1alpha. Server reflection answers with them and the request guard
 * validates decoded requests against them.
 */
export interface Descriptors {
  registry: FileRegistry;
  /** Serialized FileDescriptorProto of each file, by file name ("robustrec/v1/data.proto"). */
  fileBytes: Map<string, Uint8Array>;
}

const GEN_DIR = join(repoRoot, 'libs', 'contracts', 'src', 'gen');

// grpc-health-check ships health.proto as health/v1/health.proto; everyone else (grpcurl,
// other languages' health packages) knows it by its canonical name, and nothing imports it
const RENAMES: Record<string, string> = { 'health/v1/health.proto': 'grpc/health/v1/health.proto' };

let cached: Descriptors | undefined;

/** Loads (once per process) the descriptor sets written by `npm run generate`. */
export function descriptors(): Descriptors {
  if (cached) return cached;
  const files: FileDescriptorProto[] = [];
  for (const set of ['robustrec.binpb', 'health.binpb', 'reflection.binpb']) {
    const path = join(GEN_DIR, set);
    if (!existsSync(path)) throw new Error(`${set} is missing from libs/contracts/src/gen: run \`npm run generate\``);
    for (const f of fromBinary(FileDescriptorSetSchema, readFileSync(path)).file) {
      f.name = RENAMES[f.name] ?? f.name;
      files.push(f);
    }
  }
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
  const fileBytes = new Map<string, Uint8Array>();
  for (const f of files) fileBytes.set(f.name, toBinary(FileDescriptorProtoSchema, f));
  cached = { registry, fileBytes };
  return cached;
}

/** The descriptor of a method from its gRPC path ("/robustrec.v1.DataService/GetDataset"). */
export function methodByPath(path: string): DescMethod | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  return descriptors().registry.getService(m[1]!)?.methods.find((x) => x.name === m[2]);
}

export function serviceByName(name: string): DescService | undefined {
  return descriptors().registry.getService(name);
}

/** A file and every file it imports, transitively, the file itself first (as reflection sends them). */
export function withDependencies(file: DescFile): DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile): void => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push(f);
    f.dependencies.forEach(visit);
  };
  visit(file);
  return out;
}
