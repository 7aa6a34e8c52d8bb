import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { permissionDenied } from './errors';

/** Repository root (this file lives in libs/core/src). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Directory of the shared public datasets (LightGCN-format Gowalla and the authors'
 * attack profiles). ROBUSTREC_DATASETS_DIR overrides the default `../shared/datasets`
 * beside the repository.
 */
export function datasetsDir(): string {
  return resolve(process.env.ROBUSTREC_DATASETS_DIR ?? join(repoRoot, '..', 'shared', 'datasets'));
}

/** The Gowalla directory when present (tests and benchmarks skip the full-data parts otherwise). */
export function gowallaDir(): string | undefined {
  const d = join(datasetsDir(), 'gowalla');
  return existsSync(join(d, 'train.txt')) ? d : undefined;
}

/** Platform state (SQLite catalogues, artifacts): ROBUSTREC_HOME or ./.robustrec. */
export function homeDir(): string {
  return resolve(process.env.ROBUSTREC_HOME ?? join(process.cwd(), '.robustrec'));
}

/**
 * Directories from which files may be imported: ROBUSTREC_DATA_ROOTS (path-list
 * separated) or the datasets directory plus <home>/imports.
 */
export function dataRoots(): string[] {
  const env = process.env.ROBUSTREC_DATA_ROOTS;
  const roots = env ? env.split(process.platform === 'win32' ? ';' : ':').filter(Boolean) : [datasetsDir(), join(homeDir(), 'imports')];
  return roots.map((r) => resolve(r));
}

/** Resolves a user-supplied path and refuses it (PERMISSION_DENIED) unless it lies under a data root. */
export function resolveUnderRoots(path: string, roots: string[] = dataRoots(), field = 'path'): string {
  const abs = isAbsolute(path) ? resolve(path) : resolve(roots[0] ?? process.cwd(), path);
  if (!roots.some((r) => abs === r || abs.startsWith(r.endsWith(sep) ? r : r + sep)))
    throw permissionDenied(`${field}: ${path} is outside the configured data roots (${roots.join(', ')})`);
  return abs;
}
