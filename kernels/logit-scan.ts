import { float32AtLeast } from './float32-bounds.js';
import { NonFiniteLogitsError } from './non-finite-logits.js';
import { RowKernels } from './row-kernels.js';

/**
 * Ids of a row that can matter, in id order, with their values: views into `kernels`' memory (see RowKernels),
 * reused from call to call. Only the first `count` entries are meaningful; `weights` is filled by whoever
 * exponentiates them (RowKernels.weigh).
 */
export interface LogitCandidates {
  kernels: RowKernels;
  ids: Int32Array;
  values: Float32Array;
  weights: Float32Array;
  count: number;
  /** The largest value of the row, and the smallest among the candidates. */
  max: number;
  min: number;
}

export function createLogitCandidates(): LogitCandidates {
  const kernels = new RowKernels();
  return { kernels, ids: kernels.ids, values: kernels.values, weights: kernels.weights, count: 0, max: -Infinity, min: -Infinity };
}

/** Makes room for `entries` candidates (the arrays may be new views afterwards). */
export function reserveCandidates(c: LogitCandidates, entries: number): void {
  c.kernels.ensure(entries);
  c.ids = c.kernels.ids;
  c.values = c.kernels.values;
  c.weights = c.kernels.weights;
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
 * The row's max and every id whose value is >= max - cut, in id order, into `into`: two WebAssembly SIMD passes
 * over a copy of the row (RowKernels: the max, whose float32x4 max also carries any NaN through, then a
 * compare-and-compact that stores whole 4-lane blocks when all of them pass, as on a flat row).
 *
 * Throws NonFiniteLogitsError for NaN or +Infinity anywhere, or a row with no finite entry (-Infinity alone is
 * a mask, not an error).
 */
export function scanLogits(row: Float32Array, cut: number, into: LogitCandidates): LogitCandidates {
  const kernels = into.kernels;
  kernels.loadRow(row);
  reserveCandidates(into, row.length);
  const max = finiteRowMax(kernels);
  const { count, min } = kernels.compact(float32AtLeast(max - cut));
  into.count = count;
  into.max = max;
  into.min = min;
  return into;
}

/** The row loaded into `kernels`: its max; throws NonFiniteLogitsError as scanLogits does. */
export function finiteRowMax(kernels: RowKernels): number {
  const max = kernels.rowMax();
  if (max !== max) throw new NonFiniteLogitsError('nan');
  if (max === Infinity) throw new NonFiniteLogitsError('infinity');
  if (max === -Infinity) throw new NonFiniteLogitsError('no-finite');
  return max;
}

/** The argmax's copy of the row (one per thread, made on first use). */
let argmaxKernels: RowKernels | null = null;

/**
 * Index of the largest entry, the first one on ties, with the same non-finite checks as scanLogits
 * (NaN or +Infinity anywhere, or no finite entry, throw NonFiniteLogitsError): the SIMD max, then a SIMD search
 * for its first index (RowKernels).
 */
export function argmaxFinite(row: Float32Array): number {
  const kernels = (argmaxKernels ??= new RowKernels());
  kernels.loadRow(row);
  return kernels.firstIndexOf(finiteRowMax(kernels));
}
