/**
 * Vitest global setup: finds, once per run, which execution providers can start on this host, so the contract
 * suites run on every one of them and report the others as skipped with the reason (tests/helpers/providers.ts).
 * It also points XDG_CACHE_HOME at a temporary directory for the run (removed at the end): model loads in tests
 * cache rewritten graphs there (models/logits-graph-cache.ts), never in the user's ~/.cache.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { detectProviders, type ProviderCase } from './helpers/provider-detection.js';

declare module 'vitest' {
  export interface ProvidedContext {
    providers: ProviderCase[];
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  // Test workers and the servers they spawn inherit it.
  const cacheHome = mkdtempSync(join(tmpdir(), 'unir-test-cache-'));
  process.env.XDG_CACHE_HOME = cacheHome;
  const providers = await detectProviders(process.env.UNIR_TEST_EPS);
  for (const p of providers) {
    const what = p.reason ? `skipped: ${p.reason}` : `runs the contract suites${p.adapter ? ` on ${p.adapter.device} (${p.adapter.type}, ${p.adapter.driver})` : ''}`;
    process.stdout.write(`[providers] ${p.ep}: ${what}\n`);
  }
  // CI names the providers it installed: one that cannot start there is a failure, not a skip.
  const required = (process.env.UNIR_REQUIRE_EPS ?? '').split(',').filter(Boolean);
  const missing = providers.filter((p) => required.includes(p.ep) && p.reason);
  if (missing.length > 0) {
    rmSync(cacheHome, { recursive: true, force: true });
    throw new Error(`UNIR_REQUIRE_EPS=${process.env.UNIR_REQUIRE_EPS}: ${missing.map((p) => `${p.ep} cannot start: ${p.reason}`).join('; ')}`);
  }
  project.provide('providers', providers);
  return () => rmSync(cacheHome, { recursive: true, force: true });
}
