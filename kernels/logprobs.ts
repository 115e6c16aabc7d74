import { finiteRowMax, negligibleCut } from './logit-scan.js';
import { RowKernels } from './row-kernels.js';
import { createTopCandidates, selectTopCandidates, type TopCandidates } from './top-candidates.js';

/**
 * Log-softmax of a row, reported the OpenAI way. The engine computes these on the fused logits BEFORE any
 * processor (bias, penalties, temperature, filters), i.e. the model's own distribution, as vLLM does by default.
 */
export interface LogSoftmaxStats {
  max: number;
  /** log Σ exp(row[i]); logprob(i) = row[i] - logSumExp. */
  logSumExp: number;
}

export interface TokenLogprob {
  id: number;
  logprob: number;
}

/** Buffers reused across calls; one per thread. */
export interface LogprobScratch {
  kernels: RowKernels;
  top: TopCandidates;
}

export function createLogprobScratch(): LogprobScratch {
  return { kernels: new RowKernels(), top: createTopCandidates(20) };
}

let sharedScratch: LogprobScratch | null = null;

/**
 * The row's log-softmax normalizer and its n most likely tokens (n up to 20 at the API; most likely first,
 * ties to the lower id): logSumExp = max + ln Σ exp(row[i] - max), the sum in float64 of float32 weights from
 * one WebAssembly SIMD pass over a copy of the row (RowKernels.expSum) over the ids within negligibleCut(V) of the
 * max (the rest are below float32's resolution of the sum), and the top n by
 * a heap whose scan skips, 4 lanes at a time, everything not above the heap's worst (RowKernels.firstAbove).
 * -Infinity entries have logprob -Infinity and are never listed.
 *
 * Throws NonFiniteLogitsError for NaN or +Infinity anywhere, or no finite entry.
 */
export function rowLogprobs(
  row: Float32Array,
  n: number,
  scratch: LogprobScratch = (sharedScratch ??= createLogprobScratch()),
): { stats: LogSoftmaxStats; top: TokenLogprob[] } {
  const kernels = scratch.kernels;
  kernels.loadRow(row);
  const max = finiteRowMax(kernels);
  // Ids below max - negligibleCut(V) carry less than 2^-24 of the sum together: the same sum to float32 rounding.
  const stats = { max, logSumExp: max + Math.log(kernels.expSum(max, 1, -negligibleCut(row.length))) };
  if (n <= 0) return { stats, top: [] };
  const picked = selectTopCandidates(kernels.row.subarray(0, row.length), n, scratch.top, (from, floor) => kernels.firstAbove(from, floor));
  const top: TokenLogprob[] = new Array(picked.count);
  for (let j = 0; j < picked.count; j++) top[j] = { id: picked.ids[j], logprob: picked.values[j] - stats.logSumExp };
  return { stats, top };
}

/** rowLogprobs without the top tokens. */
export function logSoftmaxStats(row: Float32Array): LogSoftmaxStats {
  return rowLogprobs(row, 0).stats;
}

/** Log-probability of `id` under softmax(row). */
export function tokenLogprob(row: Float32Array, stats: LogSoftmaxStats, id: number): number {
  return row[id] - stats.logSumExp;
}

/**
 * The n most likely tokens of the whole row, most likely first, ties to the lower id (one heap pass).
 * Tokens with -Infinity/NaN logits are never listed, so fewer than n may come back.
 */
export function topLogprobs(
  row: Float32Array,
  stats: LogSoftmaxStats,
  n: number,
  scratch: TopCandidates = createTopCandidates(Math.max(0, n)),
): TokenLogprob[] {
  const top = selectTopCandidates(row, n, scratch);
  const result: TokenLogprob[] = new Array(top.count);
  for (let j = 0; j < top.count; j++) {
    result[j] = { id: top.ids[j], logprob: top.values[j] - stats.logSumExp };
  }
  return result;
}
