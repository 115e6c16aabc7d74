import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UnirError } from '../common/errors.js';

/** How deep a module directory is walked for links that leave the root (model dirs are one or two levels). */
const MAX_DEPTH = 4;

/**
 * Resolves a module path given to the admin API inside the modules root (--reasoners-dir). Relative paths
 * are taken from the root; an absolute path must lie under it. Refused with path_outside_root (400): a path
 * that leaves the root lexically ('..', absolute elsewhere) or through a symlink (the directory itself, a
 * directory above it, or any file or folder inside it). Returns the directory as a path under the root as
 * configured (so it matches the paths that start-up loads and the watcher use).
 */
export async function resolveModulePath(root: string | null, path: string): Promise<string> {
  if (!root) {
    throw new UnirError(
      'invalid_request',
      'run-time module loads need a modules root: start the server with --reasoners-dir DIR and give paths inside it',
      'path',
    );
  }
  if (path.includes('\0')) throw new UnirError('invalid_request', 'path contains a NUL byte', 'path');
  const rootAbs = resolve(root);
  const candidate = resolve(rootAbs, path);
  if (!isInside(rootAbs, candidate)) {
    throw new UnirError('path_outside_root', `${JSON.stringify(path)} is outside the modules root: give a path inside --reasoners-dir`, 'path');
  }
  let rootReal: string;
  let real: string;
  try {
    rootReal = await realpath(rootAbs);
  } catch (err) {
    throw new UnirError('invalid_model_dir', `the modules root cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'path');
  }
  try {
    real = await realpath(candidate);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`;
    throw new UnirError('invalid_model_dir', `${JSON.stringify(path)} ${why} under the modules root`, 'path');
  }
  if (!isInside(rootReal, real)) {
    throw new UnirError('path_outside_root', `${JSON.stringify(path)} leads outside the modules root through a symbolic link`, 'path');
  }
  if (real === rootReal) {
    throw new UnirError('invalid_request', 'path names the modules root itself: give the module\'s subdirectory', 'path');
  }
  // The directory may be renamed or removed since realpath (a swap under way): that is the client's 400, not a 500.
  const info = await stat(real).catch((err: NodeJS.ErrnoException) => {
    throw new UnirError('invalid_model_dir', `${JSON.stringify(path)} ${err.code === 'ENOENT' ? 'does not exist' : `cannot be read (${err.code ?? 'error'})`} under the modules root`, 'path');
  });
  if (!info.isDirectory()) {
    throw new UnirError('invalid_model_dir', `${JSON.stringify(path)} is not a directory: give the module's directory`, 'path');
  }
  await checkLinksInside(real, rootReal, path, 0);
  return join(rootAbs, relative(rootReal, real));
}

/** Whether `child` is `parent` or lies under it (both absolute and normalized). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

/** A module file that is a link to elsewhere (/etc, another user's models) would be read by the worker. */
async function checkLinksInside(dir: string, rootReal: string, shown: string, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) return;
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new UnirError('invalid_model_dir', `${JSON.stringify(shown)} cannot be listed (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'path');
  }
  for (const e of entries) {
    const full = join(dir, e.name);
    if (e.isSymbolicLink()) {
      let target: string;
      try {
        target = await realpath(full);
      } catch {
        throw new UnirError('invalid_model_dir', `${JSON.stringify(shown)} holds a broken symbolic link: ${e.name}`, 'path');
      }
      if (!isInside(rootReal, target)) {
        throw new UnirError('path_outside_root', `${JSON.stringify(shown)} holds a symbolic link that leads outside the modules root: ${relative(rootReal, full)}`, 'path');
      }
    } else if (e.isDirectory()) {
      await checkLinksInside(full, rootReal, shown, depth + 1);
    }
  }
}
