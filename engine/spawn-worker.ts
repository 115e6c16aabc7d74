import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker from a module next to `baseUrl`. Built code runs the .js file. When the caller runs from
 * TypeScript sources (vitest, tsx), the worker registers tsx's loader first and then imports the .ts file:
 * Node 20 ignores `--import` in a worker's execArgv.
 */
export function spawnWorker(fileStem: string, baseUrl: string, options: WorkerOptions): Worker {
  if (!baseUrl.endsWith('.ts')) return new Worker(new URL(`${fileStem}.js`, baseUrl), options);
  const target = new URL(`${fileStem}.ts`, baseUrl).href;
  const tsxRoot = dirname(createRequire(baseUrl).resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const bootstrap = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(target)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}
