/**
 * A deliberately plain reference for the sampling filters, written from their definitions (HF / vLLM v0 order):
 * divide by the temperature in float64, sort the whole vocabulary (value descending, lower id first), softmax in
 * float64 over every finite id, cut to top-k, then to the smallest prefix reaching top-p (renormalized over the
 * top-k set), then drop p < minP * p_max. Returns the survivors in id order with their probabilities.
 */
export interface ReferenceFilters {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
}

export function referenceDistribution(logits: Float32Array, f: ReferenceFilters): { id: number; p: number }[] {
  return referenceCut(logits, f).kept;
}

/**
 * The same, and whether float rounding could move the top-p cut: the cumulative probability at the cut (or one
 * token before it) within 1e-9 of topP, where the exact sum decides what float sums in another order may not.
 */
export function referenceCut(logits: Float32Array, f: ReferenceFilters): { kept: { id: number; p: number }[]; ambiguous: boolean } {
  let ambiguous = false;
  const scaled = Array.from(logits, (v) => v / f.temperature);
  let order = scaled.map((_, i) => i).filter((i) => scaled[i] > -Infinity);
  order.sort((a, b) => scaled[b] - scaled[a] || a - b);
  if (f.topK > 0) order = order.slice(0, f.topK);
  const max = scaled[order[0]];
  const weight = (i: number) => Math.exp(scaled[i] - max);
  if (f.topP < 1) {
    const total = order.reduce((sum, i) => sum + weight(i), 0);
    let cumulative = 0;
    let n = 0;
    while (n < order.length) {
      const before = cumulative;
      cumulative += weight(order[n++]) / total;
      if (Math.abs(cumulative - f.topP) < 1e-9 || Math.abs(before - f.topP) < 1e-9) ambiguous = true;
      if (cumulative >= f.topP) break;
    }
    order = order.slice(0, n);
  }
  if (f.minP > 0) order = order.filter((i) => weight(i) >= f.minP);
  const total = order.reduce((sum, i) => sum + weight(i), 0);
  return { kept: order.sort((a, b) => a - b).map((id) => ({ id, p: weight(id) / total })), ambiguous };
}
