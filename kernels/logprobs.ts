import { expNonPositive } from './fast-exp.js';
import { createLogitCandidates, negligibleCut, scanLogits, type LogitCandidates } from './logit-scan.js';
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
  candidates: LogitCandidates;
  top: TopCandidates;
}

export function createLogprobScratch(): LogprobScratch {
  return { candidates: createLogitCandidates(), top: createTopCandidates(20) };
}

const sharedScratch = createLogprobScratch();

/**
 * The row's log-softmax normalizer and its n most likely tokens (n up to 20 at the API; most likely first,
 * ties to the lower id), from one scan of the row (scanLogits): logSumExp = max + ln Σ exp(row[i] - max) in
 * float64 over the ids within negligibleCut(V) of the max (the rest are below float32's resolution of the sum),
 * and the top n picked among those same ids, or from the whole row when fewer than n are that close.
 * -Infinity entries have logprob -Infinity and are never listed.
 *
 * Throws NonFiniteLogitsError for NaN or +Infinity anywhere, or no finite entry.
 */
export function rowLogprobs(
  row: Float32Array,
  n: number,
  scratch: LogprobScratch = sharedScratch,
): { stats: LogSoftmaxStats; top: TokenLogprob[] } {
  const c = scanLogits(row, negligibleCut(row.length), scratch.candidates);
  const max = c.max;
  let sum = 0;
  for (let j = 0; j < c.count; j++) sum += expNonPositive(c.values[j] - max);
  const stats = { max, logSumExp: max + Math.log(sum) };
  if (n <= 0) return { stats, top: [] };
  let top: TokenLogprob[];
  if (c.count >= n) {
    const picked = selectTopCandidates(c.values.subarray(0, c.count), n, scratch.top);
    top = Array.from({ length: picked.count }, (_, j) => ({ id: c.ids[picked.ids[j]], logprob: picked.values[j] - stats.logSumExp }));
  } else {
    top = topLogprobs(row, stats, n, scratch.top);
  }
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
