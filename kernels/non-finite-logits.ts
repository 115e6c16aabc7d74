/** What made a logits row unusable. */
export type NonFiniteKind = 'nan' | 'infinity' | 'no-finite';

/**
 * A logits row that holds NaN or +Infinity, or no finite entry at all: a broken model or module, never a
 * token. The sampler throws it for the row it was given; the engine ends only that sequence.
 * -Infinity alone is not an error: processors use it to mask ids.
 */
export class NonFiniteLogitsError extends RangeError {
  constructor(readonly kind: NonFiniteKind) {
    super(
      kind === 'nan'
        ? 'logits row holds NaN'
        : kind === 'infinity'
          ? 'logits row holds +Infinity'
          : 'logits row has no finite entry',
    );
    this.name = 'NonFiniteLogitsError';
  }
}
