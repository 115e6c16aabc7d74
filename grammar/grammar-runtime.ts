import { UnirError } from '../common/errors.js';
import { grammarKey, type GrammarSpec } from './grammar-spec.js';
import { describeSpec, grammarOf } from './grammar-source.js';
import { createTokenizerInfo } from './tokenizer-info.js';
import type { VocabBytes } from './vocab-bytes.js';
import { createXgrammar, withXgrammarErrors, XgrammarAbort, type CompiledGrammar, type GrammarCompiler, type XgrammarModule } from './xgrammar.js';

/** Compiled grammars kept per runtime (least recently used beyond this are freed). */
const CAPACITY = 64;

/**
 * One xgrammar instance serving one tokenizer: its compiler and the compiled grammars, by spec hash (LRU).
 * Matchers made from its grammars live in its WebAssembly memory: a runtime that was `tainted` (an xgrammar
 * call aborted in it) takes no new work, and is collected once its last matcher is gone.
 */
export class GrammarRuntime {
  private readonly compiled = new Map<string, CompiledGrammar>();
  tainted = false;
  readonly stats = { compileMs: 0, hits: 0, misses: 0 };

  private constructor(
    readonly xg: XgrammarModule,
    private readonly compiler: GrammarCompiler,
  ) {}

  static async create(vocab: VocabBytes, stopTokenIds: readonly number[]): Promise<GrammarRuntime> {
    const xg = await createXgrammar();
    const info = await createTokenizerInfo(xg, vocab, stopTokenIds);
    return new GrammarRuntime(xg, await xg.GrammarCompiler.createGrammarCompiler(info, true));
  }

  /** Whether `spec` is compiled already (a hit costs nothing; a miss can take seconds). */
  has(spec: GrammarSpec): boolean {
    return this.compiled.has(grammarKey(spec));
  }

  /**
   * The compiled grammar for a spec, compiling it on a miss. A spec xgrammar refuses is invalid_request
   * naming why (and taints this runtime: see GrammarRuntime).
   */
  async get(spec: GrammarSpec): Promise<CompiledGrammar> {
    const key = grammarKey(spec);
    const hit = this.compiled.get(key);
    if (hit) {
      this.stats.hits++;
      // Re-insert: Map order is the recency order.
      this.compiled.delete(key);
      this.compiled.set(key, hit);
      return hit;
    }
    this.stats.misses++;
    const t0 = performance.now();
    let grammar: CompiledGrammar;
    try {
      grammar = await withXgrammarErrors(async () => {
        const source = await grammarOf(this.xg, spec);
        try {
          return await this.compiler.compileGrammar(source);
        } finally {
          source.dispose();
        }
      });
    } catch (err) {
      if (err instanceof XgrammarAbort) this.tainted = true;
      throw new UnirError('invalid_request', `the ${describeSpec(spec)} cannot be compiled: ${(err as Error).message}`);
    }
    this.stats.compileMs += performance.now() - t0;
    this.compiled.set(key, grammar);
    if (this.compiled.size > CAPACITY) {
      const [oldest, old] = this.compiled.entries().next().value!;
      this.compiled.delete(oldest);
      old.dispose();
    }
    return grammar;
  }
}
