import { isTokenIndex } from './token-id.js';

/**
 * HF/vLLM repetition penalty, in place: for every id in `seen` (prompt and generated tokens),
 * a positive logit is divided by `penalty`, any other is multiplied by it, so penalty > 1
 * always makes a seen token less likely.
 *
 * `seen` is a Set so each id is penalized once and the cost is O(distinct seen ids),
 * not O(vocabulary). Ids outside the row are ignored.
 */
export function applyRepetitionPenalty(
  logits: Float32Array,
  seen: ReadonlySet<number>,
  penalty: number,
): void {
  if (penalty === 1) return;
  if (!(penalty > 0)) throw new RangeError(`repetition penalty must be > 0, got ${penalty}`);
  for (const id of seen) {
    if (!isTokenIndex(id, logits.length)) continue;
    const logit = logits[id];
    logits[id] = logit > 0 ? logit / penalty : logit * penalty;
  }
}
