import { UnirError } from '../common/errors.js';
import { fuseLogits, type WeightedRow } from '../kernels/fuse-logits.js';

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
 * Who made a sequence's logits unusable, once the sampler found them so (it checks every row it samples): the
 * base (model_failed) when its own row is unusable, else the modules whose rows are (reasoner_failed), else the
 * modules whose weighted sum with the base overflowed float32. Null when the rows and their sum are usable: then
 * the request's own processors made it so. Runs only on a failure, so it may fuse again.
 */
export function blameUnusableLogits(baseRow: Float32Array, terms: readonly NamedRow[]): UnirError | null {
  if (!usableLogits(baseRow)) {
    return new UnirError('model_failed', 'the base model produced non-finite logits (NaN or infinity) for this sequence');
  }
  const active = terms.filter((t) => t.weight !== 0);
  // Only the ids fusion uses: a padded vocabulary's extra rows are never read.
  const broken = active.filter((t) => !usableLogits(t.row.subarray(0, baseRow.length))).map((t) => t.name);
  if (broken.length > 0) {
    return new UnirError('reasoner_failed', `reasoning module ${broken.join(', ')} produced non-finite logits (NaN or infinity)`);
  }
  if (active.length > 0 && !usableLogits(fuseLogits(new Float32Array(baseRow.length), baseRow, active))) {
    return new UnirError('reasoner_failed', `the fused logits of the base and ${active.map((t) => t.name).join(', ')} overflowed float32`);
  }
  return null;
}
