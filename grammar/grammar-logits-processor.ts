import { UnirError } from '../common/errors.js';
import { applyTokenBitmask } from '../kernels/token-bitmask.js';
import type { CompiledGrammar, GrammarMatcher, XgrammarModule } from './xgrammar.js';

/**
 * A stateful logits processor that keeps one sequence's output inside a grammar (xgrammar's GrammarMatcher,
 * a pushdown automaton over the tokens). Per decode step:
 *   process(logits)  blocks (-Infinity) every id the grammar does not allow next; the fused logits, after the
 *                    modules and before sampling, so every sampler draws from allowed ids only
 *   commit(id)       advances the grammar by the sampled id, then prepares the next step's mask
 *   reset()          back to the grammar's start (a new output)
 * The next mask is computed right after commit (xgrammar's call is asynchronous only in form), so it is ready
 * long before the next step samples: the model runs in between.
 */
export class GrammarLogitsProcessor {
  private mask: Int32Array | null = null;
  private failure: unknown = null;
  private pending: Promise<void> = Promise.resolve();

  private constructor(private readonly matcher: GrammarMatcher) {}

  /** @param stopTokenIds the ids that may end the output once the grammar is complete (EOS, stop_token_ids). */
  static async create(xg: XgrammarModule, grammar: CompiledGrammar, stopTokenIds: readonly number[]): Promise<GrammarLogitsProcessor> {
    const matcher = await xg.GrammarMatcher.createGrammarMatcher(grammar, stopTokenIds.length > 0 ? [...stopTokenIds] : undefined);
    const processor = new GrammarLogitsProcessor(matcher);
    processor.pending = processor.prepare();
    await processor.pending;
    return processor;
  }

  /** True once the grammar has accepted a stop token. */
  get terminated(): boolean {
    return this.matcher.isTerminated();
  }

  /** Masks the row in place; returns an error (and leaves the row) when the grammar cannot go on. */
  process(logits: Float32Array): UnirError | null {
    if (this.failure !== null) return new UnirError('internal_error', `the grammar matcher failed: ${String(this.failure)}`);
    if (!this.mask) return new UnirError('internal_error', 'the grammar mask was not ready when the step sampled');
    applyTokenBitmask(logits, this.mask);
    return null;
  }

  /** Advances by the sampled token; an error if the grammar refused it (no allowed id had a finite logit). */
  commit(tokenId: number): UnirError | null {
    this.mask = null;
    if (!this.matcher.acceptToken(tokenId)) {
      return new UnirError('internal_error', `the grammar refused token ${tokenId}: no token it allows had a finite logit`);
    }
    if (!this.matcher.isTerminated()) this.pending = this.prepare();
    return null;
  }

  reset(): void {
    this.matcher.reset();
    this.mask = null;
    this.pending = this.prepare();
  }

  /** Resolves when the next step's mask is ready (for callers that cannot rely on the model run in between). */
  ready(): Promise<void> {
    return this.pending;
  }

  dispose(): void {
    this.mask = null;
    this.matcher.dispose();
  }

  private async prepare(): Promise<void> {
    try {
      this.mask = await this.matcher.getNextTokenBitmask();
    } catch (err) {
      this.failure = err;
    }
  }
}
