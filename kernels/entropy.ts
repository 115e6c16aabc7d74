/**
 * Shannon entropy of softmax(row) in nats, for metrics, the entropy gate and attribution.
 * H = ln Z - Σ w_i (l_i - max) / Z with w_i = exp(l_i - max) and Z = Σ w_i (float64), which
 * avoids ln of tiny probabilities. -Infinity/NaN entries have probability 0 and are skipped.
 * A row with no finite maximum returns NaN.
 */
export function entropy(row: Float32Array): number {
  return entropyAndLogSumExp(row).entropy;
}

/** Logits this far below the row's maximum are left out of the sums (see entropyAndLogSumExp). */
const NEGLIGIBLE_SHIFT = -40;

/**
 * The entropy (nats) and logSumExp = max + ln Z of softmax(row), from one pass of exp (as above).
 * A row with no finite maximum gives entropy NaN and logSumExp = max (±Infinity); logSoftmaxStats throws
 * NonFiniteLogitsError for such a row instead.
 * Entries more than 40 below the maximum are skipped without calling exp: each would add under e^-40 = 4.2e-18
 * to Z (which is at least 1) and under 40·e^-40 = 1.7e-16 to the entropy, so even 262,144 of them change the
 * results by under 5e-11, and a peaked row (a trained model's: most ids tens of units below the top) costs a
 * comparison per id instead of an exp.
 */
export function entropyAndLogSumExp(row: Float32Array): { entropy: number; logSumExp: number } {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  if (!Number.isFinite(max)) return { entropy: NaN, logSumExp: max };
  let normalizer = 0;
  let weightedShift = 0;
  for (let i = 0; i < row.length; i++) {
    const value = row[i];
    if (!(value > -Infinity)) continue;
    const shifted = value - max;
    if (shifted < NEGLIGIBLE_SHIFT) continue;
    const weight = Math.exp(shifted);
    normalizer += weight;
    weightedShift += weight * shifted;
  }
  return { entropy: Math.log(normalizer) - weightedShift / normalizer, logSumExp: max + Math.log(normalizer) };
}
