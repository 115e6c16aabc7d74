/** One reasoning module's logits row and the weight its contribution is scaled by. */
export interface WeightedRow {
  row: Float32Array;
  weight: number;
}

/**
 * out[i] = base[i] + Σ_t terms[t].weight * terms[t].row[i], over the base vocabulary.
 *
 * - `out` must have the base's length; it may be the same array as `base` (in-place fusion),
 *   but must not alias any term row.
 * - A row shorter than the base contributes nothing to ids at or past its end; a longer row
 *   (padded vocabulary) is truncated to the base's length.
 * - Weight-0 terms are skipped, so they give exactly the base (no `-0 + 0` or `0 * Infinity`).
 * - Terms are added one after another in the given order with float32 rounding after each
 *   add, so reordering terms only changes float rounding; callers wanting bitwise
 *   reproducibility pass terms in a stable order.
 */
export function fuseLogits(
  out: Float32Array,
  base: Float32Array,
  terms: readonly WeightedRow[],
): Float32Array {
  const vocabSize = base.length;
  if (out.length !== vocabSize) {
    throw new RangeError(`fuseLogits: out has length ${out.length}, base has ${vocabSize}`);
  }
  if (out !== base) out.set(base);
  for (const { row, weight } of terms) {
    if (weight === 0) continue;
    const shared = Math.min(vocabSize, row.length);
    for (let i = 0; i < shared; i++) out[i] += weight * row[i];
  }
  return out;
}
