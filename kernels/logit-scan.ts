import { NonFiniteLogitsError } from './non-finite-logits.js';

/**
 * Ids of a row that can matter, in id order, with their values: a reusable buffer. Only the first `count`
 * entries are meaningful; `weights` is filled by whoever exponentiates them.
 */
export interface LogitCandidates {
  ids: Int32Array;
  values: Float32Array;
  weights: Float64Array;
  count: number;
  /** The largest value of the row, and the smallest among the candidates. */
  max: number;
  min: number;
}

export function createLogitCandidates(capacity = 0): LogitCandidates {
  return { ids: new Int32Array(capacity), values: new Float32Array(capacity), weights: new Float64Array(capacity), count: 0, max: -Infinity, min: -Infinity };
}

/**
 * How far below the max (in units of the temperature) a logit can be skipped: everything below max - cut
 * together carries less than V·e^-cut of the max's probability, which for cut = max(30, ln V + 24 ln 2) is
 * below 2^-24 of the softmax normalizer (which is at least the max's own weight 1): under float32's resolution
 * of the sum, so skipping it is the same distribution to float32 rounding.
 */
export function negligibleCut(vocabSize: number): number {
  return Math.max(30, Math.log(vocabSize) + 24 * Math.LN2);
}

/**
 * One pass over `row`: its max, and every id whose value is >= max - cut, in id order, into `into`.
 *
 * A running-max threshold filter: an entry is kept when it is not below the largest value seen so far minus
 * `cut` (one compare for most entries of a peaked row), and a second pass over the kept ones drops those that
 * came before the final max and are below its threshold. NaN fails every compare, so it is kept by the first
 * pass and found by the second at no cost to the common path; -Infinity is dropped there too.
 *
 * Throws NonFiniteLogitsError for NaN or +Infinity anywhere, or a row with no finite entry (-Infinity alone is
 * a mask, not an error).
 */
export function scanLogits(row: Float32Array, cut: number, into: LogitCandidates): LogitCandidates {
  const size = row.length;
  if (into.ids.length < size) {
    into.ids = new Int32Array(size);
    into.values = new Float32Array(size);
    into.weights = new Float64Array(size);
  }
  const ids = into.ids;
  const values = into.values;
  let max = -Infinity;
  let threshold = -Infinity;
  let count = 0;
  for (let i = 0; i < size; i++) {
    const value = row[i];
    if (value < threshold) continue;
    if (value > max) {
      max = value;
      threshold = max - cut;
    }
    ids[count] = i;
    values[count++] = value;
  }
  const floor = max - cut;
  let kept = 0;
  let min = max;
  let nan = false;
  for (let j = 0; j < count; j++) {
    const value = values[j];
    if (value >= floor) {
      if (value < min) min = value;
      ids[kept] = ids[j];
      values[kept++] = value;
    } else if (value !== value) {
      nan = true;
    }
  }
  if (nan) throw new NonFiniteLogitsError('nan');
  if (max === Infinity) throw new NonFiniteLogitsError('infinity');
  if (max === -Infinity) throw new NonFiniteLogitsError('no-finite');
  into.count = kept;
  into.max = max;
  into.min = min;
  return into;
}

/**
 * Index of the largest entry, the first one on ties, with the same non-finite checks as scanLogits
 * (NaN or +Infinity anywhere, or no finite entry, throw NonFiniteLogitsError). One compare per entry.
 */
export function argmaxFinite(row: Float32Array): number {
  let best = -Infinity;
  let bestId = -1;
  let nan = false;
  for (let i = 0; i < row.length; i++) {
    const value = row[i];
    if (value <= best) continue;
    if (value !== value) {
      nan = true;
      continue;
    }
    best = value;
    bestId = i;
  }
  if (nan) throw new NonFiniteLogitsError('nan');
  if (best === Infinity) throw new NonFiniteLogitsError('infinity');
  if (bestId < 0) throw new NonFiniteLogitsError('no-finite');
  return bestId;
}
