import { isTokenIndex } from './token-id.js';

/** Makes `ids` unselectable (-Infinity), e.g. EOS/stop ids until min_tokens is reached. */
export function suppressTokens(logits: Float32Array, ids: Iterable<number>): void {
  for (const id of ids) {
    if (isTokenIndex(id, logits.length)) logits[id] = -Infinity;
  }
}
