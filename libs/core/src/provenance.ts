import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './config';

/** Canonical JSON: object keys sorted recursively, so equal configs hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) o[k] = sortKeys((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

let cachedVersions: Record<string, string> | undefined;

/**
 * The source the process runs: ROBUSTREC_COMMIT when set (a container image has no .git: the
 * build passes it), else `git describe --always --dirty` of the checkout ("-dirty": uncommitted
 * changes, so the number is not reproducible from the hash alone), else "unknown".
 */
export function sourceCommit(): string {
  if (process.env.ROBUSTREC_COMMIT) return process.env.ROBUSTREC_COMMIT;
  try {
    const out = execFileSync('git', ['-C', repoRoot, 'describe', '--always', '--dirty', '--abbrev=12', '--exclude=*'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Versions recorded with every result. */
export function versions(): Record<string, string> {
  if (!cachedVersions) {
    const pkg = (p: string): string => {
      try {
        return JSON.parse(readFileSync(join(repoRoot, p), 'utf8')).version as string;
      } catch {
        return 'unknown';
      }
    };
    cachedVersions = {
      robustrec: pkg('package.json'),
      commit: sourceCommit(),
      node: process.version,
      'tfjs-core': pkg('node_modules/@tensorflow/tfjs-core/package.json'),
      'grpc-js': pkg('node_modules/@grpc/grpc-js/package.json'),
      platform: `${process.platform}-${process.arch}`,
    };
  }
  return { ...cachedVersions };
}

export function hostDescription(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'unknown cpu'} x${c.length}`;
}

export interface ProvenanceRecord {
  seed: number;
  configJson: string;
  versions: Record<string, string>;
  host: string;
  createdAt: string;
}

export function provenance(seed: number, config: unknown): ProvenanceRecord {
  return { seed, configJson: canonicalJson(config), versions: versions(), host: hostDescription(), createdAt: new Date().toISOString() };
}
