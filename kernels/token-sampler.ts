import { argmax } from './argmax.js';
import { createNucleusScratch, selectNucleus, type CandidateSet, type NucleusScratch } from './nucleus.js';
import type { SamplingParams } from './sampling-params.js';
import type { RandomSource } from './seeded-random.js';
import { applyTemperature } from './temperature.js';

/** Buffers reused across sampleToken calls; keep one per worker to avoid per-token allocations. */
export interface SamplerScratch {
  nucleus: NucleusScratch;
  /** exp(logit - max) per id for the unfiltered walk; grows to the vocabulary size once. */
  weights: Float64Array;
}

export function createSamplerScratch(): SamplerScratch {
  return { nucleus: createNucleusScratch(), weights: new Float64Array(0) };
}

/**
 * Picks the next token from processed logits (bias/penalties already applied).
 *
 * - temperature 0 or topK 1: argmax, and the rng is not touched.
 * - otherwise exactly one rng.next() draw u, taken first so that every sampled token
 *   consumes one draw whatever the row holds (seeded runs stay aligned); then the logits
 *   are divided by the temperature IN PLACE, filtered (see selectNucleus), and u is walked
 *   over the candidates' cumulative probabilities: the first candidate whose cumulative
 *   probability exceeds u wins. With no filter active the full softmax is walked in id
 *   order, unsorted.
 * - a row whose every logit is -Infinity/NaN, or that holds +Infinity, degenerates to argmax.
 */
export function sampleToken(
  logits: Float32Array,
  params: SamplingParams,
  rng: RandomSource,
  scratch: SamplerScratch = createSamplerScratch(),
): number {
  if (params.temperature === 0 || params.topK === 1) return argmax(logits);
  const draw = rng.next();
  applyTemperature(logits, params.temperature);

  const filtered =
    (params.topK > 0 && params.topK < logits.length) || params.topP < 1 || params.minP > 0;
  if (!filtered) return walkSoftmax(logits, draw, scratch);

  const candidates = selectNucleus(logits, params.topK, params.topP, params.minP, scratch.nucleus);
  if (candidates.count === 0) return argmax(logits);
  return walkCandidates(candidates, draw);
}

function walkCandidates(candidates: CandidateSet, draw: number): number {
  const { ids, probs, count } = candidates;
  let cumulative = 0;
  let lastPossible = ids[0];
  for (let j = 0; j < count; j++) {
    if (probs[j] <= 0) continue;
    cumulative += probs[j];
    lastPossible = ids[j];
    if (draw < cumulative) return ids[j];
  }
  // The probabilities summed to slightly under 1 and the draw landed in the gap.
  return lastPossible;
}

/** Samples from softmax(logits) over the whole vocabulary, in id order, without sorting. */
function walkSoftmax(logits: Float32Array, draw: number, scratch: SamplerScratch): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (!Number.isFinite(max)) return argmax(logits);

  if (scratch.weights.length < logits.length) scratch.weights = new Float64Array(logits.length);
  const weights = scratch.weights;
  let normalizer = 0;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i];
    // NaN fails the comparison, so it gets weight 0 like -Infinity.
    const weight = value > -Infinity ? Math.exp(value - max) : 0;
    weights[i] = weight;
    normalizer += weight;
  }

  const target = draw * normalizer;
  let cumulative = 0;
  let lastPossible = -1;
  for (let i = 0; i < logits.length; i++) {
    const weight = weights[i];
    if (weight === 0) continue;
    cumulative += weight;
    lastPossible = i;
    if (target < cumulative) return i;
  }
  return lastPossible;
}
