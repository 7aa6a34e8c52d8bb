import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument, permissionDenied } from './errors';

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

/**
 * The path with every symbolic link resolved, as the OS will open it: the longest existing
 * prefix goes through realpath, the rest (not created yet) is appended as written (it is
 * already normalised, so it holds no "..").
 */
export function realPath(path: string): string {
  const tail: string[] = [];
  let head = resolve(path);
  for (;;) {
    try {
      return join(realpathSync.native(head), ...tail);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      const parent = dirname(head);
      if (parent === head) return resolve(path);
      tail.unshift(basename(head));
      head = parent;
    }
  }
}

/**
 * Resolves a user-supplied path and refuses it (PERMISSION_DENIED) unless it lies under a
 * data root. The check compares real paths (symlinks resolved on both sides), so a link
 * inside a root that points elsewhere (root/etc -> /etc) does not get out; the real path is
 * returned so that what is opened is what was checked. The message names the roots but
 * never echoes the path given.
 */
export function resolveUnderRoots(path: string, roots: string[] = dataRoots(), field = 'path'): string {
  if (path.includes('\0')) throw invalidArgument(field, 'contains a NUL character');
  let abs: string;
  try {
    abs = realPath(isAbsolute(path) ? path : resolve(roots[0] ?? process.cwd(), path));
  } catch (e) {
    // ELOOP, EACCES, ENAMETOOLONG, ...: the path cannot be opened either; say why without echoing it
    throw invalidArgument(field, `cannot be resolved (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const inside = (r: string): boolean => abs === r || abs.startsWith(r.endsWith(sep) ? r : r + sep);
  if (!roots.some((r) => inside(realPath(r)))) throw permissionDenied(`${field}: outside the configured data roots (${roots.join(', ')})`);
  return abs;
}
