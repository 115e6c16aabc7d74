import { applyLogitBias } from './logit-bias.js';
import { applyPresenceFrequencyPenalty } from './presence-frequency-penalty.js';
import { applyRepetitionPenalty } from './repetition-penalty.js';
import type { SamplingParams } from './sampling-params.js';
import { suppressTokens } from './suppress-tokens.js';

/**
 * Processors applied to one sequence's fused logits before sampling, in this order:
 *   1. logit bias            (request's logit_bias)
 *   2. suppression           (-Infinity for ids the engine blocks, e.g. EOS before min_tokens;
 *                             after the bias so a positive bias cannot revive them)
 *   3. repetition penalty    (over prompt + generated ids, HF/vLLM)
 *   4. presence/frequency    (over generated ids, OpenAI)
 * Temperature, top-k/top-p/min-p and the draw belong to sampleToken.
 */

/** What the penalties remember about one sequence. */
export interface SequencePenaltyState {
  /** Generated-token counts, for presence/frequency penalties. */
  counts: Map<number, number>;
  /** Distinct prompt and generated ids, for the repetition penalty. */
  seen: Set<number>;
}

export function createPenaltyState(promptIds: Int32Array): SequencePenaltyState {
  return { counts: new Map(), seen: new Set(promptIds) };
}

/** Records the token just chosen for this sequence. */
export function commitToken(state: SequencePenaltyState, id: number): void {
  state.counts.set(id, (state.counts.get(id) ?? 0) + 1);
  state.seen.add(id);
}

/** Applies the processors above to `logits` in place; disabled ones cost nothing. */
export function processLogits(
  logits: Float32Array,
  params: SamplingParams,
  state: SequencePenaltyState,
  suppress: readonly number[] | null,
): void {
  if (params.logitBias !== null && params.logitBias.size > 0) {
    applyLogitBias(logits, params.logitBias);
  }
  if (suppress !== null && suppress.length > 0) suppressTokens(logits, suppress);
  applyRepetitionPenalty(logits, state.seen, params.repetitionPenalty);
  applyPresenceFrequencyPenalty(
    logits,
    state.counts,
    params.presencePenalty,
    params.frequencyPenalty,
  );
}
