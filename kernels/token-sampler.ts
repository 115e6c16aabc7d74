import { argmaxFinite } from './logit-scan.js';
import { createNucleusScratch, selectWeighted, type NucleusFilters, type NucleusScratch } from './nucleus.js';
import type { SamplingParams } from './sampling-params.js';
import type { RandomSource } from './seeded-random.js';

/** Temperatures below this are greedy: dividing by them overflows float32 and samples noise. */
export const GREEDY_BELOW_TEMPERATURE = 1e-5;

/** Buffers reused across sampleToken calls; keep one per thread to avoid per-token allocations. */
export type SamplerScratch = NucleusScratch;

/** The scratch of calls that pass none (one per thread: a WebAssembly instance is not made per call). */
let defaultScratch: SamplerScratch | null = null;

export function createSamplerScratch(): SamplerScratch {
  return createNucleusScratch();
}

/** Whether sampleToken takes the argmax (and no draw) for these settings. */
export function isGreedy(params: Pick<SamplingParams, 'temperature' | 'topK'>): boolean {
  return params.temperature < GREEDY_BELOW_TEMPERATURE || params.topK === 1;
}

/**
 * Picks the next token from processed logits (bias and penalties already applied); the row is not modified.
 *
 * - temperature below GREEDY_BELOW_TEMPERATURE, or topK 1: argmax, and the rng is not touched.
 * - otherwise exactly one rng.next() draw u, so every sampled token consumes one draw whatever the row holds
 *   (seeded runs stay aligned); the candidates come from selectWeighted (temperature, top-k, top-p, min-p),
 *   and u times their total weight is walked over their cumulative weights in the order selectWeighted lists
 *   them (id order; rank order after a heap top-k): the first candidate whose cumulative weight exceeds it wins
 *   (inverse transform sampling; a SIMD walk, RowKernels.pickCumulative).
 *
 * Throws NonFiniteLogitsError (kernels/non-finite-logits.ts) for a row with NaN or +Infinity, or without a
 * finite entry: never a token from a broken row.
 */
export function sampleToken(
  logits: Float32Array,
  params: NucleusFilters,
  rng: RandomSource,
  scratch: SamplerScratch = (defaultScratch ??= createSamplerScratch()),
): number {
  if (isGreedy(params)) return argmaxFinite(logits);
  const draw = rng.next();
  const { candidates, total, boundaryValue, boundaryId } = selectWeighted(logits, params, scratch);
  // The max always has weight 1 and is always kept, so a member with a positive weight exists.
  const j = candidates.kernels.pickCumulative(candidates.count, boundaryValue, boundaryId, draw * total);
  return candidates.ids[Math.max(0, j)];
}
