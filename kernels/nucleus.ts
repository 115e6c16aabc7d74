import { EXP_BUCKETS, expNonPositive, weighWithBuckets } from './fast-exp.js';
import { createLogitCandidates, negligibleCut, scanLogits, type LogitCandidates } from './logit-scan.js';
import { NonFiniteLogitsError } from './non-finite-logits.js';
import { createRankCutScratch, keepRankedAtLeast, keepTopCount, rankedAtLeast, topMassBoundary, type RankCutScratch } from './rank-cut.js';
import { createTopCandidates, selectTopCandidates, type TopCandidates } from './top-candidates.js';

/**
 * Tokens a sampler may draw from and their probabilities, in id order. Scratch arrays: only the first `count`
 * entries are meaningful, and the next call with the same scratch overwrites them.
 */
export interface CandidateSet {
  ids: Int32Array;
  probs: Float64Array;
  count: number;
}

/** Buffers reused across calls (they grow to the vocabulary once); one per thread. */
export interface NucleusScratch {
  candidates: LogitCandidates;
  rank: RankCutScratch;
  top: TopCandidates;
  /** Each candidate's exponent bucket and each bucket's mass, for top-p (weighWithBuckets). */
  bucketOf: Uint16Array;
  bucketMass: Float64Array;
}

export function createNucleusScratch(): NucleusScratch {
  return {
    candidates: createLogitCandidates(),
    rank: createRankCutScratch(),
    top: createTopCandidates(64),
    bucketOf: new Uint16Array(0),
    bucketMass: new Float64Array(EXP_BUCKETS),
  };
}

/** Up to this k, top-k takes the k best with a heap in one pass (selectTopCandidates); above, by bucketing. */
const HEAP_TOP_K = 2048;

/**
 * What selectWeighted keeps: the candidates j < candidates.count ranked at or above (boundaryValue, boundaryId)
 * (rankedAtLeast in rank-cut.ts; boundaryValue -Infinity keeps them all), and the sum of their weights.
 */
export interface WeightedSelection {
  candidates: LogitCandidates;
  total: number;
  boundaryValue: number;
  boundaryId: number;
}

/** The filters of one request, on logits before the temperature. */
export interface NucleusFilters {
  /** > 0; the caller handles greedy (temperature 0). */
  temperature: number;
  /** 0 disables. */
  topK: number;
  /** 1 disables. */
  topP: number;
  /** 0 disables. */
  minP: number;
}

/**
 * The candidates of softmax(logits / temperature) after top-k, then top-p, then min-p (the order of HF and
 * vLLM v0), with unnormalized weights w = exp((logit - max) / temperature) in `weights` and the sum of the
 * selected ones in `total` (see WeightedSelection: top-p's cut is a boundary, not a copy). The logits are not
 * modified.
 * - top-k (0 < topK < vocabulary): the k largest logits, ties to the lower id.
 * - top-p (topP < 1): the smallest prefix of the descending distribution (over the top-k set when top-k is on)
 *   whose probability reaches topP; at least one id.
 * - min-p (minP > 0): keep p >= minP * p_max, tested as (logit - max) / temperature >= ln(minP).
 *
 * Order of the result: descending (ties: lower id first) when top-k picked the candidates with its heap (k up to
 * 2,048), id order otherwise. The sampled distribution does not depend on it.
 *
 * Cost, one thread: top-k up to 2,048 is one heap pass over the row (selectTopCandidates) and work on k
 * entries. Otherwise one scan (scanLogits) keeps only ids within negligibleCut(V) * temperature of the max (the
 * ids below carry less than 2^-24 of the mass together, so leaving them out is the same distribution to float32
 * rounding); top-k and top-p are then threshold searches by bucketing (rank-cut.ts), without sorting: top-p's
 * buckets are the exponent table's, filled while the weights are computed (fast-exp.ts).
 *
 * Throws NonFiniteLogitsError for a row with NaN or +Infinity, or without a finite entry.
 */
export function selectWeighted(logits: Float32Array, filters: NucleusFilters, scratch: NucleusScratch): WeightedSelection {
  const { temperature, topK, topP, minP } = filters;
  const logMinP = minP > 0 ? Math.log(minP) : -Infinity;
  const heapTopK = topK > 0 && topK < logits.length && topK <= HEAP_TOP_K;
  let c: LogitCandidates;
  if (heapTopK) {
    c = topKCandidates(logits, topK, scratch);
  } else {
    let cut = negligibleCut(logits.length) * temperature;
    // Without top-p, min-p's cut commutes with top-k's and the scan can make it (with a margin: the exact test
    // below decides).
    if (topP >= 1 && minP > 0) cut = Math.min(cut, -logMinP * temperature * (1 + 1e-6) + 1e-6);
    c = scanLogits(logits, cut, scratch.candidates);
    if (topK > 0 && topK < logits.length) keepTopCount(c, topK, scratch.rank);
  }
  const max = c.max;
  const selection: WeightedSelection = { candidates: c, total: 0, boundaryValue: -Infinity, boundaryId: 0 };

  if (topP < 1 && !heapTopK) {
    if (scratch.bucketOf.length < c.count) scratch.bucketOf = new Uint16Array(c.ids.length);
    const all = weighWithBuckets(c.values, c.count, max, 1 / temperature, c.weights, scratch.bucketOf, scratch.bucketMass);
    const cut = topMassBoundary(c, scratch.bucketOf, scratch.bucketMass, topP * all, scratch.rank);
    selection.boundaryValue = cut.value;
    selection.boundaryId = cut.id;
    selection.total = cut.total;
  } else {
    selection.total = weigh(c, max, temperature);
    if (topP < 1) {
      c.count = massPrefixLength(c.weights, c.count, topP * selection.total);
      selection.total = -1;
    }
  }
  if (minP > 0) {
    keepRankedAtLeast(c, selection.boundaryValue, selection.boundaryId);
    selection.boundaryValue = -Infinity;
    const { ids, values, weights } = c;
    const count = c.count;
    let kept = 0;
    for (let j = 0; j < count; j++) {
      if ((values[j] - max) / temperature >= logMinP) {
        ids[kept] = ids[j];
        values[kept] = values[j];
        weights[kept++] = weights[j];
      }
    }
    if (kept < count) selection.total = -1;
    c.count = kept;
  }
  if (selection.total < 0) {
    let total = 0;
    for (let j = 0; j < c.count; j++) total += c.weights[j];
    selection.total = total;
  }
  return selection;
}

/** The k best of the row by heap, in rank order, as candidates; the row's non-finite checks included. */
function topKCandidates(logits: Float32Array, k: number, scratch: NucleusScratch): LogitCandidates {
  const top = selectTopCandidates(logits, k, scratch.top);
  if (top.sawNaN) throw new NonFiniteLogitsError('nan');
  if (top.count === 0) throw new NonFiniteLogitsError('no-finite');
  if (top.values[0] === Infinity) throw new NonFiniteLogitsError('infinity');
  const c = scratch.candidates;
  if (c.ids.length < top.count) {
    c.ids = new Int32Array(top.count);
    c.values = new Float32Array(top.count);
    c.weights = new Float64Array(top.count);
  }
  c.ids.set(top.ids.subarray(0, top.count));
  c.values.set(top.values.subarray(0, top.count));
  c.count = top.count;
  c.max = top.values[0];
  c.min = top.values[top.count - 1];
  return c;
}

/** Length of the shortest prefix of rank-ordered weights whose sum reaches `mass` (all when none does). */
function massPrefixLength(weights: Float64Array, count: number, mass: number): number {
  let sum = 0;
  for (let j = 0; j < count; j++) {
    sum += weights[j];
    if (sum >= mass) return j + 1;
  }
  return count;
}

/** selectWeighted as a list: its members (compacted) with the weights normalized into probabilities. */
export function selectNucleus(
  logits: Float32Array,
  filters: NucleusFilters,
  scratch: NucleusScratch = createNucleusScratch(),
): CandidateSet {
  const { candidates, total, boundaryValue, boundaryId } = selectWeighted(logits, filters, scratch);
  keepRankedAtLeast(candidates, boundaryValue, boundaryId);
  const probs = candidates.weights;
  for (let j = 0; j < candidates.count; j++) probs[j] /= total;
  return { ids: candidates.ids, probs, count: candidates.count };
}

/** weights[j] = exp((values[j] - max) / temperature); returns their sum (float64). */
function weigh(c: LogitCandidates, max: number, temperature: number): number {
  const { values, weights } = c;
  const count = c.count;
  let total = 0;
  if (temperature === 1) {
    for (let j = 0; j < count; j++) total += weights[j] = expNonPositive(values[j] - max);
  } else {
    const inverse = 1 / temperature;
    for (let j = 0; j < count; j++) total += weights[j] = expNonPositive((values[j] - max) * inverse);
  }
  return total;
}
