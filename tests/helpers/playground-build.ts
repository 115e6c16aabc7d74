import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { playgroundDirs } from '../../server/routes/playground.js';

/**
 * Compiles the playground's scripts (ui/src -> dist/ui, as `npm run build` does) when any source is newer
 * than its output, so a browser test never runs yesterday's page.
 */
export function buildPlaygroundScripts(): void {
  const { scriptDir } = playgroundDirs();
  const stale = readdirSync('ui/src').some((file) => {
    const out = join(scriptDir, file.replace(/\.ts$/, '.js'));
    return !existsSync(out) || statSync(out).mtimeMs < statSync(join('ui/src', file)).mtimeMs;
  });
  if (stale) execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'ui/tsconfig.json'], { stdio: 'inherit' });
}
