import { UnirError } from '../common/errors.js';
import type { GrammarRuntime } from './grammar-runtime.js';
import { UTF8_BOUNDARY, type Utf8TokenMasks } from './utf8-token-masks.js';
import type { CompiledGrammar, GrammarMatcher } from './xgrammar.js';

/**
 * One sequence's place in its grammar (xgrammar's GrammarMatcher, a pushdown automaton over the tokens) and in
 * UTF-8 (where its last character stands), in the grammar worker. The next-token mask is the grammar's ANDed
 * with the tokens that keep the text well-formed UTF-8 (see utf8-token-masks.ts).
 */
export class SequenceMatcher {
  private utf8State = UTF8_BOUNDARY;
  private disposed = false;

  private constructor(
    private readonly matcher: GrammarMatcher,
    private readonly utf8: Utf8TokenMasks,
  ) {}

  /** @param stopTokenIds the ids that may end the output once the grammar is complete (EOS, stop_token_ids). */
  static async create(runtime: GrammarRuntime, grammar: CompiledGrammar, stopTokenIds: readonly number[], utf8: Utf8TokenMasks): Promise<SequenceMatcher> {
    const matcher = await runtime.xg.GrammarMatcher.createGrammarMatcher(grammar, stopTokenIds.length > 0 ? [...stopTokenIds] : undefined);
    return new SequenceMatcher(matcher, utf8);
  }

  /** True once the grammar has accepted a stop token. */
  get terminated(): boolean {
    return this.matcher.isTerminated();
  }

  /**
   * The ids allowed next (xgrammar's bitmask layout, a new array). Throws when none is: the grammar allows only
   * bytes that would break UTF-8 here.
   */
  async nextMask(): Promise<Int32Array> {
    const mask = this.utf8.restrict(await this.matcher.getNextTokenBitmask(), this.utf8State);
    if (!mask) throw new UnirError('invalid_request', 'the grammar allows only bytes that are not valid UTF-8 at this point of the output');
    return mask;
  }

  /** Advances by the sampled token; false if the grammar or UTF-8 refuses it. */
  accept(tokenId: number): boolean {
    const state = this.utf8.advance(this.utf8State, tokenId);
    if (state === -1 || !this.matcher.acceptToken(tokenId)) return false;
    this.utf8State = state;
    return true;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.matcher.dispose();
  }
}
