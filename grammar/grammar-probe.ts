import { UnirError } from '../common/errors.js';
import type { GrammarSpec } from './grammar-spec.js';
import { describeSpec, grammarOf } from './grammar-source.js';
import { createXgrammar, withXgrammarErrors, XgrammarAbort, type XgrammarModule } from './xgrammar.js';

/**
 * Checks that a spec parses, in an xgrammar instance of its own (no tokenizer: a new one costs tens of ms),
 * before the serving runtime sees it. Bad specs abort xgrammar calls, and an instance that aborted is
 * replaced (see xgrammar.ts), so they cost this probe a new instance and never touch the runtime whose
 * compiled grammars and matchers serve running sequences.
 */
export class GrammarProbe {
  private instance: Promise<XgrammarModule> | null = null;
  /** Instances made so far (one, plus one per spec that aborted). */
  instances = 0;

  /** Resolves if xgrammar parses the spec; else rejects with invalid_request naming xgrammar's reason. */
  async check(spec: GrammarSpec): Promise<void> {
    if (!this.instance) {
      this.instances++;
      this.instance = createXgrammar();
    }
    const xg = await this.instance;
    try {
      (await withXgrammarErrors(() => grammarOf(xg, spec))).dispose();
    } catch (err) {
      if (err instanceof XgrammarAbort) this.instance = null;
      throw new UnirError('invalid_request', `the ${describeSpec(spec)} cannot be compiled: ${(err as Error).message}`);
    }
  }
}
