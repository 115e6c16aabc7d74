import { createLogitCandidates, finiteRowMax, negligibleCut, reserveCandidates, scanLogits, type LogitCandidates } from './logit-scan.js';
import { smallestFloat32Where } from './float32-bounds.js';
import { createRankCutScratch, keepRankedAtLeast, keepTopCount, topMassBoundary, type RankCutScratch } from './rank-cut.js';
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
}

export function createNucleusScratch(): NucleusScratch {
  return {
    candidates: createLogitCandidates(),
    rank: createRankCutScratch(),
    top: createTopCandidates(64),
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
 * entries. Otherwise one SIMD scan (scanLogits) keeps only ids within negligibleCut(V) * temperature of the max
 * (the ids below carry less than 2^-24 of the mass together, so leaving them out is the same distribution to
 * float32 rounding) and one SIMD pass weighs them (RowKernels.weigh); top-k and top-p are then threshold searches
 * by bucketing (rank-cut.ts), without sorting: top-p's buckets are the weights' exponent buckets, filled in the
 * same pass.
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
  const selection: WeightedSelection = { candidates: c, total: -1, boundaryValue: -Infinity, boundaryId: ALL_IDS };

  if (topP < 1 && !heapTopK) {
    const all = c.kernels.weigh(c.count, max, 1 / temperature, true);
    const cut = topMassBoundary(c, topP * all, scratch.rank);
    selection.boundaryValue = cut.value;
    selection.boundaryId = cut.id;
    selection.total = cut.total;
  } else {
    selection.total = c.kernels.weigh(c.count, max, 1 / temperature, false);
    if (topP < 1) {
      c.count = massPrefixLength(c.weights, c.count, topP * selection.total);
      selection.total = -1;
    }
  }
  if (minP > 0) {
    // min-p keeps (value - max) / T >= ln(minP): a value floor, so a rank prefix too. Both cuts keep the members of
    // the shorter prefix: the floor replaces top-p's boundary when it is above it.
    const floor = smallestFloat32Where((v) => (v - max) / temperature >= logMinP, max + temperature * logMinP);
    if (floor > selection.boundaryValue) {
      selection.boundaryValue = floor;
      selection.boundaryId = ALL_IDS;
      selection.total = -1;
    }
  }
  if (selection.total < 0) selection.total = c.kernels.sumRanked(c.count, selection.boundaryValue, selection.boundaryId);
  return selection;
}

/** A boundary id above every id: with it, (value, ALL_IDS) keeps every candidate whose value is >= value. */
const ALL_IDS = 0x7fffffff;

/** The k best of the row by heap, in rank order, as candidates; the row's non-finite checks included. */
function topKCandidates(logits: Float32Array, k: number, scratch: NucleusScratch): LogitCandidates {
  const c = scratch.candidates;
  const kernels = c.kernels;
  kernels.loadRow(logits);
  const max = finiteRowMax(kernels);
  // The heap's scan skips, 4 lanes at a time, whatever is not above its worst entry.
  const top = selectTopCandidates(kernels.row.subarray(0, logits.length), k, scratch.top, (from, floor) => kernels.firstAbove(from, floor));
  reserveCandidates(c, top.count);
  c.ids.set(top.ids.subarray(0, top.count));
  c.values.set(top.values.subarray(0, top.count));
  c.count = top.count;
  c.max = max;
  c.min = top.values[top.count - 1];
  return c;
}

/** Length of the shortest prefix of rank-ordered weights whose sum reaches `mass` (all when none does). */
function massPrefixLength(weights: Float32Array, count: number, mass: number): number {
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
  const probs = Float64Array.from(candidates.weights.subarray(0, candidates.count), (w) => w / total);
  return { ids: candidates.ids, probs, count: candidates.count };
}
