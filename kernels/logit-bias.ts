import { isTokenIndex } from './token-id.js';

/**
 * Adds bias.get(id) to logits[id] in place (OpenAI `logit_bias`).
 * Ids outside the row are ignored: the server validates them against the tokenizer.
 */
export function applyLogitBias(logits: Float32Array, bias: ReadonlyMap<number, number>): void {
  for (const [id, amount] of bias) {
    if (isTokenIndex(id, logits.length)) logits[id] += amount;
  }
}
