import { UnirError } from '../common/errors.js';
import { applyTokenBitmask } from '../kernels/token-bitmask.js';
import type { GrammarLink } from './grammar-link.js';

/**
 * One sequence's grammar, as the engine sees it: a stateful logits processor whose matcher lives in the
 * grammar worker. Per decode step:
 *   process(logits)  blocks (-Infinity) every id the grammar does not allow next; the fused logits, after the
 *                    modules and before sampling, so every sampler draws from allowed ids only
 *   commit(id)       posts the sampled id; the worker advances the matcher and computes the next mask while
 *                    the models run the next step
 *   ready()          null when the next mask is here (the usual case), else a promise for it
 */
export class RemoteGrammar {
  private failure: UnirError | null = null;
  private complete = false;
  /** While the next mask is awaited: the promise every caller gets, and its resolver. */
  private waiting: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(
    private readonly link: GrammarLink,
    readonly seqId: number,
    private mask: Int32Array | null,
  ) {}

  /** False while the next mask waits behind a compile in the grammar worker: leave the sequence out of the step. */
  get canDecode(): boolean {
    this.link.drain();
    return this.settled || !this.link.busy;
  }

  ready(): Promise<void> | null {
    this.link.drain();
    if (this.settled) return null;
    if (!this.waiting) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.waiting = { promise, resolve };
    }
    return this.waiting.promise;
  }

  /** Masks the row in place; returns an error (and leaves the row) when the grammar cannot go on. */
  process(logits: Float32Array): UnirError | null {
    if (this.failure) return this.failure;
    if (this.complete) return new UnirError('internal_error', 'the grammar is complete: the output should have ended');
    if (!this.mask) return new UnirError('internal_error', 'the grammar mask was not ready when the step sampled');
    applyTokenBitmask(logits, this.mask);
    return null;
  }

  /** Sends the sampled token on; an error if the mask did not allow it (no allowed id had a finite logit). */
  commit(tokenId: number): UnirError | null {
    const mask = this.mask;
    if (!mask || ((mask[tokenId >> 5] >>> (tokenId & 31)) & 1) === 0) {
      return this.failure ?? new UnirError('internal_error', `the grammar refused token ${tokenId}: no token it allows had a finite logit`);
    }
    this.mask = null;
    this.link.commit(this.seqId, tokenId);
    return null;
  }

  dispose(): void {
    this.link.close(this.seqId);
  }

  /** From the link: the next mask, the end of the grammar, or a failure. */
  settle(update: { mask: Int32Array } | { complete: true } | { failure: UnirError }): void {
    if ('mask' in update) this.mask = update.mask;
    else if ('complete' in update) this.complete = true;
    else this.failure = update.failure;
    this.waiting?.resolve();
    this.waiting = null;
  }

  private get settled(): boolean {
    return this.mask !== null || this.failure !== null || this.complete;
  }
}
