import { RowKernels } from './row-kernels.js';

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
 * - Terms are added one after another in the given order, each as out[i] + weight * row[i] in float64
 *   rounded to float32 (one rounding per term), so reordering terms only changes float rounding; callers
 *   wanting bitwise reproducibility pass terms in a stable order.
 * - Runs as WebAssembly SIMD passes (RowKernels.addWeighted), bit for bit what the plain loop
 *   `out[i] += weight * row[i]` gives.
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
  const active = terms.filter((t) => t.weight !== 0);
  if (active.length === 0) {
    if (out !== base) out.set(base);
    return out;
  }
  // Each term's pass runs as WebAssembly SIMD over copies of the rows (memcpy is cheap next to the pass).
  const kernels = fusionKernels ??= new RowKernels();
  kernels.loadRow(base);
  for (const { row, weight } of active) kernels.addWeighted(row, weight);
  out.set(kernels.row.subarray(0, vocabSize));
  return out;
}

let fusionKernels: RowKernels | null = null;
