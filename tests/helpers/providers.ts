import { describe, inject, it } from 'vitest';
import type { ExecutionProvider } from '../../models/execution-provider.js';
import type { ProviderCase } from './provider-detection.js';

export type { ProviderCase } from './provider-detection.js';

/** Every provider of this run, found once by tests/provider-setup.ts. */
export const PROVIDERS: readonly ProviderCase[] = inject('providers');

/** The GPU providers (every one but cpu). */
export const GPU_PROVIDERS: readonly ExecutionProvider[] = ['webgpu', 'cuda'];

/**
 * A contract suite on every provider (or on those of `only`): `describe(name [ep], ...)` where the provider starts; where it does not, one
 * skipped test that carries the reason (the run's summary counts it, the setup's log names it), never a pass.
 */
export function describeEachProvider(name: string, suite: (p: ProviderCase) => void, only?: readonly ExecutionProvider[]): void {
  for (const p of PROVIDERS) {
    if (only && !only.includes(p.ep)) continue;
    describe(`${name} [${p.ep}]`, () => {
      if (p.reason) it.skip(`${p.ep} cannot run here: ${p.reason}`, () => undefined);
      else suite(p);
    });
  }
}
