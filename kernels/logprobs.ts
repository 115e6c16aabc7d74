import { createTopCandidates, selectTopCandidates, type TopCandidates } from './top-candidates.js';

/**
 * Log-softmax of a row, reported the OpenAI way. The engine computes these on the fused
 * logits BEFORE any processor (bias, penalties, temperature, filters), i.e. the model's own
 * distribution, as vLLM does by default.
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

/**
 * max and logSumExp = max + ln Σ exp(row[i] - max), summed in float64; NaN entries skipped.
 * A row without a finite maximum reports logSumExp = max (±Infinity): its logprobs are not
 * meaningful and come out NaN or ±Infinity.
 */
export function logSoftmaxStats(row: Float32Array): LogSoftmaxStats {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  if (!Number.isFinite(max)) return { max, logSumExp: max };
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    const value = row[i];
    if (value > -Infinity) sum += Math.exp(value - max);
  }
  return { max, logSumExp: max + Math.log(sum) };
}

/** Log-probability of `id` under softmax(row). */
export function tokenLogprob(row: Float32Array, stats: LogSoftmaxStats, id: number): number {
  return row[id] - stats.logSumExp;
}

/**
 * The n most likely tokens (n up to 20 at the API), most likely first, ties to the lower id.
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
