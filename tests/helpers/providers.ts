import { describe, inject, it } from 'vitest';
import type { ProviderCase } from './provider-detection.js';

export type { ProviderCase } from './provider-detection.js';

/** Every provider of this run, found once by tests/provider-setup.ts. */
export const PROVIDERS: readonly ProviderCase[] = inject('providers');

/**
 * A contract suite on every provider: `describe(name [ep], ...)` where the provider starts; where it does not, one
 * skipped test that carries the reason (the run's summary counts it, the setup's log names it), never a pass.
 */
export function describeEachProvider(name: string, suite: (p: ProviderCase) => void): void {
  for (const p of PROVIDERS) {
    describe(`${name} [${p.ep}]`, () => {
      if (p.reason) it.skip(`${p.ep} cannot run here: ${p.reason}`, () => undefined);
      else suite(p);
    });
  }
}
