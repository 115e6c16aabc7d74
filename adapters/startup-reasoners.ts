import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ServerOptions } from '../server/options.js';
import { MANIFEST_FILE } from './manifest.js';
import type { ReasonerRegistry } from './reasoner-registry.js';
import { existsSync } from 'node:fs';

/** Loads --reasoner directories and every module under --reasoners-dir; a module that fails is logged, not fatal. */
export async function loadReasonersAtStart(registry: ReasonerRegistry, options: ServerOptions, log: Logger): Promise<void> {
  const dirs = options.reasoner.map((d) => resolve(d));
  if (options.reasonersDir) dirs.push(...(await moduleDirsUnder(options.reasonersDir)));
  await Promise.all(
    dirs.map(async (dir) => {
      try {
        const info = await registry.load(dir);
        log.info({ reasoner: info.name, version: info.version, loadMs: info.load_ms, onnx: info.onnx }, 'reasoning module loaded');
      } catch (err) {
        log.error({ dir, err: (err as Error).message }, 'reasoning module not loaded');
      }
    }),
  );
}

/** Subdirectories of the modules root that hold a manifest; dot-directories are staging areas (see the watcher). */
export async function moduleDirsUnder(root: string): Promise<string[]> {
  const entries = await readdir(resolve(root), { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && existsSync(join(resolve(root), e.name, MANIFEST_FILE)))
    .map((e) => join(resolve(root), e.name))
    .sort();
}
