import { rowLogprobs, tokenLogprob, type LogprobScratch, type TokenLogprob } from './logprobs.js';
import { NonFiniteLogitsError, type NonFiniteKind } from './non-finite-logits.js';
import type { NucleusFilters } from './nucleus.js';
import { sampleToken, type SamplerScratch } from './token-sampler.js';

/**
 * What sampling one processed logits row needs besides the row: plain data, so the work can run on another thread
 * (engine/sampler-pool.ts) with the same result as on the engine's own. The sequence's generator stays with the
 * sequence: its draw is taken before and travels here.
 */
export interface SampleJob extends NucleusFilters {
  /** The draw u in [0, 1) of this token (unused when the filters are greedy). */
  draw: number;
  /** null: no logprobs; n: the sampled token's logprob and the n most likely tokens (of the fused row before processors). */
  logprobs: number | null;
}

export type SampleOutcome =
  | { tokenId: number; logprob?: number; topLogprobs?: TokenLogprob[] }
  | { nonFinite: NonFiniteKind };

/**
 * Samples `row` (the fused logits after processors) with the job's filters and draw; with logprobs, they are read
 * from `raw` (the fused logits before processors). A row with NaN, +Infinity or no finite entry gives
 * { nonFinite } instead of a token.
 */
export function runSampleJob(
  row: Float32Array,
  raw: Float32Array | null,
  job: SampleJob,
  scratch: { sampler: SamplerScratch; logprobs: LogprobScratch },
): SampleOutcome {
  try {
    let logprobs: ReturnType<typeof rowLogprobs> | null = null;
    if (job.logprobs !== null) {
      if (!raw) throw new RangeError('runSampleJob: logprobs need the row before processors');
      logprobs = rowLogprobs(raw, job.logprobs, scratch.logprobs);
    }
    const tokenId = sampleToken(row, job, { next: () => job.draw }, scratch.sampler);
    if (!logprobs || !raw) return { tokenId };
    return { tokenId, logprob: tokenLogprob(raw, logprobs.stats, tokenId), topLogprobs: job.logprobs! > 0 ? logprobs.top : undefined };
  } catch (err) {
    if (err instanceof NonFiniteLogitsError) return { nonFinite: err.kind };
    throw err;
  }
}
