import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`); UNIR_CHROMIUM overrides the path. */
export const CHROMIUM_PATH = process.env.UNIR_CHROMIUM ?? '/usr/bin/chromium';

/** Headless, and nothing that reaches outside the machine (no updates, sync, QUIC or background fetches). */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface LaunchedChromium {
  context: BrowserContext;
  /** Closes the browser and removes its profile directory. */
  close(): Promise<void>;
}

/**
 * Launches Debian's chromium through playwright-core with a fresh profile (its own --user-data-dir under the
 * system temp dir). Resolves with the reason instead when it cannot start (not installed, missing libraries).
 */
export async function launchChromium(options: { colorScheme?: 'light' | 'dark' } = {}): Promise<LaunchedChromium | { reason: string }> {
  const profile = mkdtempSync(join(tmpdir(), 'unir-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: FLAGS,
      colorScheme: options.colorScheme ?? 'light',
      timeout: 30_000,
    });
    return {
      context,
      close: async () => {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    return { reason: `Chromium (${CHROMIUM_PATH}) could not be launched: ${(err as Error).message.split('\n')[0]}` };
  }
}
