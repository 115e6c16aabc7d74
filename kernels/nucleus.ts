import { createTopCandidates, selectTopCandidates, type TopCandidates } from './top-candidates.js';

/**
 * Tokens a sampler may draw from, with probabilities renormalized over the set.
 * `ids`/`probs` are scratch arrays: only the first `count` entries are meaningful, and they
 * are overwritten by the next call with the same scratch.
 */
export interface CandidateSet {
  ids: Int32Array;
  probs: Float64Array;
  count: number;
}

/** Buffers reused across calls; one per worker is enough since sampling is sequential. */
export interface NucleusScratch {
  top: TopCandidates;
  ids: Int32Array;
  probs: Float64Array;
}

export function createNucleusScratch(): NucleusScratch {
  return { top: createTopCandidates(64), ids: new Int32Array(64), probs: new Float64Array(64) };
}

/** Top-p without top-k first looks at this many candidates, doubling while they fall short. */
const FIRST_TOP_P_WINDOW = 64;

/**
 * Candidate set after top-k, then top-p, then min-p, on logits already divided by the
 * temperature (the order of HF and vLLM v0):
 * - top-k (topK > 0 and < vocabulary): the k largest logits, ties to the lower id.
 * - top-p (topP < 1): the smallest prefix of the descending distribution (renormalized over
 *   the top-k set when top-k is on) whose cumulative probability is >= topP; at least one.
 * - min-p (minP > 0): keep p >= minP * p_max, tested as `logit - maxLogit >= ln(minP)`;
 *   p / p_max does not depend on the normalizer, so this is unaffected by the earlier cuts.
 *
 * Order of the result: descending probability (ties: lower id first) when top-k or top-p is
 * on. With only min-p (or nothing) on, nothing needs ranking, so the survivors are listed in
 * id order in one O(V) pass, without sorting.
 *
 * Top-p alone never sorts the vocabulary: the softmax normalizer is taken over all ids
 * (max-subtracted, float64), then the top 64 candidates are selected; while their cumulative
 * probability is below topP the window doubles and selection is redone.
 *
 * NaN and -Infinity logits are never candidates: an all-masked row gives count 0. If any
 * logit is +Infinity, the set is the first such id alone.
 */
export function selectNucleus(
  logits: Float32Array,
  topK: number,
  topP: number,
  minP: number,
  scratch: NucleusScratch = createNucleusScratch(),
): CandidateSet {
  const vocabSize = logits.length;
  const logMinP = minP > 0 ? Math.log(minP) : -Infinity;

  if (topK > 0 && topK < vocabSize) {
    const top = selectTopCandidates(logits, topK, scratch.top);
    if (top.count === 0) return emptySet(scratch);
    const max = top.values[0];
    if (max === Infinity) return singleCandidate(scratch, top.ids[0]);
    let kept = top.count;
    if (topP < 1) {
      const normalizer = sumExp(top.values, kept, max);
      const prefix = topPPrefixLength(top, max, normalizer, topP);
      if (prefix > 0) kept = prefix;
    }
    return finishSorted(top, kept, max, logMinP, scratch);
  }

  const max = maxLogit(logits);
  if (max === -Infinity) return emptySet(scratch);
  if (max === Infinity) return singleCandidate(scratch, logits.indexOf(Infinity));

  if (topP < 1) {
    const normalizer = sumExp(logits, vocabSize, max);
    let window = Math.min(FIRST_TOP_P_WINDOW, vocabSize);
    for (;;) {
      const top = selectTopCandidates(logits, window, scratch.top);
      const prefix = topPPrefixLength(top, max, normalizer, topP);
      if (prefix > 0) return finishSorted(top, prefix, max, logMinP, scratch);
      // Every finite logit is already in the window: float rounding kept the sum below topP.
      if (top.count < window || window >= vocabSize) {
        return finishSorted(top, top.count, max, logMinP, scratch);
      }
      window = Math.min(window * 2, vocabSize);
    }
  }

  return collectInIdOrder(logits, max, logMinP, scratch);
}

/**
 * Length of the smallest prefix of `top` whose probabilities (exp(v - max) / normalizer)
 * sum to >= topP, or 0 when all `top.count` entries together stay below topP.
 */
function topPPrefixLength(
  top: TopCandidates,
  max: number,
  normalizer: number,
  topP: number,
): number {
  let cumulative = 0;
  for (let j = 0; j < top.count; j++) {
    cumulative += Math.exp(top.values[j] - max) / normalizer;
    if (cumulative >= topP) return j + 1;
  }
  return 0;
}

/** Trims the sorted prefix by min-p, then renormalizes the survivors into scratch.probs. */
function finishSorted(
  top: TopCandidates,
  count: number,
  max: number,
  logMinP: number,
  scratch: NucleusScratch,
): CandidateSet {
  let kept = count;
  while (kept > 1 && top.values[kept - 1] - max < logMinP) kept--;
  const probs = probsFor(scratch, kept);
  let normalizer = 0;
  for (let j = 0; j < kept; j++) {
    const weight = Math.exp(top.values[j] - max);
    probs[j] = weight;
    normalizer += weight;
  }
  for (let j = 0; j < kept; j++) probs[j] /= normalizer;
  return { ids: top.ids, probs, count: kept };
}

/** Min-p only (or no filter): every finite logit passing min-p, in id order. */
function collectInIdOrder(
  logits: Float32Array,
  max: number,
  logMinP: number,
  scratch: NucleusScratch,
): CandidateSet {
  if (scratch.ids.length < logits.length) scratch.ids = new Int32Array(logits.length);
  const ids = scratch.ids;
  const probs = probsFor(scratch, logits.length);
  let count = 0;
  let normalizer = 0;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i];
    if (value > -Infinity && value - max >= logMinP) {
      const weight = Math.exp(value - max);
      ids[count] = i;
      probs[count++] = weight;
      normalizer += weight;
    }
  }
  for (let j = 0; j < count; j++) probs[j] /= normalizer;
  return { ids, probs, count };
}

function probsFor(scratch: NucleusScratch, count: number): Float64Array {
  if (scratch.probs.length < count) scratch.probs = new Float64Array(count);
  return scratch.probs;
}

function emptySet(scratch: NucleusScratch): CandidateSet {
  return { ids: scratch.ids, probs: scratch.probs, count: 0 };
}

function singleCandidate(scratch: NucleusScratch, id: number): CandidateSet {
  scratch.ids[0] = id;
  scratch.probs[0] = 1;
  return { ids: scratch.ids, probs: scratch.probs, count: 1 };
}

/** Largest non-NaN logit; -Infinity when there is none. */
function maxLogit(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  return max;
}

/** Σ exp(v - max) over the first `count` values in float64; NaN/-Infinity add nothing. */
function sumExp(values: Float32Array, count: number, max: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const value = values[i];
    if (value > -Infinity) sum += Math.exp(value - max);
  }
  return sum;
}
