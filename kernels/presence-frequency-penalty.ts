import { isTokenIndex } from './token-id.js';

/**
 * OpenAI presence/frequency penalties, in place:
 * logit -= presence * (count > 0 ? 1 : 0) + frequency * count,
 * with `counts` holding how often each id was generated (not the prompt).
 * Negative values encourage repetition. Ids outside the row are ignored.
 */
export function applyPresenceFrequencyPenalty(
  logits: Float32Array,
  counts: ReadonlyMap<number, number>,
  presence: number,
  frequency: number,
): void {
  if (presence === 0 && frequency === 0) return;
  for (const [id, count] of counts) {
    if (count > 0 && isTokenIndex(id, logits.length)) {
      logits[id] -= presence + frequency * count;
    }
  }
}
