import { UnirError } from '../common/errors.js';
import type { WeightedRow } from '../kernels/fuse-logits.js';

/** A module's row in a fusion, with the name errors use. */
export interface NamedRow extends WeightedRow {
  name: string;
}

/**
 * Whether a logits row can be sampled from: no NaN, no +Infinity (softmax is undefined there), and at least one
 * finite entry. -Infinity is an ordinary mask value (suppressed tokens). One pass, no allocation.
 */
export function usableLogits(row: Float32Array): boolean {
  let finite = false;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    // NaN fails both comparisons; +Infinity fails the first.
    if (!(v < Infinity)) return false;
    if (v > -Infinity) finite = true;
  }
  return finite;
}

/**
 * The error for a fused row that is not usable, naming who made it so: the base (model_failed) when its own row
 * is unusable, else the modules whose rows are (reasoner_failed), else the modules whose weighted sum with the
 * base overflowed float32.
 */
export function nonFiniteLogitsError(baseRow: Float32Array, terms: readonly NamedRow[]): UnirError {
  if (!usableLogits(baseRow)) {
    return new UnirError('model_failed', 'the base model produced non-finite logits (NaN or infinity) for this sequence');
  }
  const active = terms.filter((t) => t.weight !== 0);
  // Only the ids fusion uses: a padded vocabulary's extra rows are never read.
  const broken = active.filter((t) => !usableLogits(t.row.subarray(0, baseRow.length))).map((t) => t.name);
  if (broken.length > 0) {
    return new UnirError('reasoner_failed', `reasoning module ${broken.join(', ')} produced non-finite logits (NaN or infinity)`);
  }
  if (active.length === 0) return new UnirError('model_failed', 'the base model\'s logits are not usable for sampling');
  return new UnirError('reasoner_failed', `the fused logits of the base and ${active.map((t) => t.name).join(', ')} overflowed float32`);
}
