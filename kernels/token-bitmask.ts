/**
 * Applies a grammar's token bitmask to a logits row in place: ids whose bit is 0 get -Infinity.
 *
 * The bitmask is xgrammar's layout: Int32Array of ceil(vocab / 32) words, bit (id % 32) of word (id >> 5)
 * set when token id is allowed. Rows longer than the mask (ids the mask does not cover) are blocked too.
 * Whole words are tested first, so a row costs one pass over the words plus a write per blocked id.
 */
export function applyTokenBitmask(logits: Float32Array, bitmask: Int32Array): void {
  const n = logits.length;
  const words = Math.min(bitmask.length, Math.ceil(n / 32));
  for (let w = 0; w < words; w++) {
    const bits = bitmask[w];
    if (bits === -1) continue;
    const start = w << 5;
    const end = Math.min(start + 32, n);
    if (bits === 0) {
      logits.fill(-Infinity, start, end);
      continue;
    }
    for (let id = start; id < end; id++) if (((bits >>> (id - start)) & 1) === 0) logits[id] = -Infinity;
  }
  if (words << 5 < n) logits.fill(-Infinity, words << 5, n);
}

/** The ids a bitmask allows, in order (for tests and diagnostics). */
export function allowedIds(bitmask: Int32Array, vocab: number): number[] {
  const out: number[] = [];
  for (let id = 0; id < vocab; id++) if ((bitmask[id >> 5] >>> (id & 31)) & 1) out.push(id);
  return out;
}
