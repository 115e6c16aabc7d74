import { availableParallelism } from 'node:os';

/** Sampler workers when none are asked for: one per core beside the engine thread's, at most 4. */
export function defaultSamplerThreads(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}
