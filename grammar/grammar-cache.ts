import { UnirError } from '../common/errors.js';
import { choiceGrammar, grammarKey, type GrammarSpec } from './grammar-spec.js';
import { createTokenizerInfo } from './tokenizer-info.js';
import { loadXgrammar, withXgrammarErrors, type CompiledGrammar, type GrammarCompiler, type XgrammarModule } from './xgrammar.js';

/** Compiled grammars kept per tokenizer (least recently used beyond this are freed). */
const CAPACITY = 64;

/**
 * Compiles grammar specs against one tokenizer with xgrammar and keeps them by spec hash. Lives in the engine
 * worker (the thread that samples), never on the HTTP thread. JSON is compiled compactly (no free whitespace:
 * `{"a": 1, "b": [2, 3]}`, json.dumps' separators), as vLLM's `disable_any_whitespace`: small and random models
 * otherwise spend their tokens on whitespace.
 */
export class GrammarCache {
  private readonly compiled = new Map<string, CompiledGrammar>();
  /** Milliseconds spent compiling, and cache hits and misses (for stats and tests). */
  readonly stats = { compileMs: 0, hits: 0, misses: 0 };

  private constructor(
    readonly xg: XgrammarModule,
    private readonly compiler: GrammarCompiler,
  ) {}

  /** @param vocabSize the logits' row count (may exceed the tokenizer's ids when padded). */
  static async create(tokenizerPath: string, vocabSize: number, stopTokenIds: readonly number[]): Promise<GrammarCache> {
    const xg = await loadXgrammar();
    const info = await createTokenizerInfo(xg, tokenizerPath, vocabSize, stopTokenIds);
    return new GrammarCache(xg, await xg.GrammarCompiler.createGrammarCompiler(info, true));
  }

  /** The compiled grammar for a spec, compiling it on a miss. A spec xgrammar refuses is invalid_request naming why. */
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
      grammar = await withXgrammarErrors(() => this.compile(spec));
    } catch (err) {
      throw new UnirError('invalid_request', `the ${describe(spec)} cannot be compiled: ${(err as Error).message}`);
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

  private compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    const c = this.compiler;
    switch (spec.kind) {
      case 'json_schema':
        return this.jsonGrammar(JSON.stringify(spec.schema), true).then((g) => c.compileGrammar(g));
      case 'json_object':
        return this.jsonGrammar('{"type": "object"}', false).then((g) => c.compileGrammar(g));
      case 'regex':
        return c.compileStructuralTag({ type: 'structural_tag', format: { type: 'regex', pattern: spec.pattern } });
      case 'choice':
        return c.compileGrammar(choiceGrammar(spec.choices));
      case 'ebnf':
        return c.compileGrammar(spec.grammar);
      case 'structural_tag':
        return this.compactTag(spec.tag).then((tag) => c.compileStructuralTag(tag as Record<string, unknown>));
    }
  }

  /**
   * The EBNF of a JSON schema, compact (one line, json.dumps' separators). xgrammar's rule for a string with
   * minLength / maxLength lets raw control characters (U+0000-U+001F but CR and LF) into the string, which JSON
   * forbids; the rule is narrowed to what its plain string rule allows.
   */
  private async jsonGrammar(schema: string, strict: boolean): Promise<string> {
    const ebnf = await this.xg.Testings._jsonSchemaToEBNF(schema, false, ONE_LINE, SEPARATORS, strict);
    return ebnf.replaceAll('[^"\\\\\\r\\n]', '[^"\\\\\\0-\\x1f]');
  }

  /** A structural tag whose json_schema parts are compact JSON grammars (xgrammar's own allow any whitespace there). */
  private async compactTag(node: unknown): Promise<unknown> {
    if (Array.isArray(node)) return Promise.all(node.map((n) => this.compactTag(n)));
    if (!node || typeof node !== 'object') return node;
    const n = node as Record<string, unknown>;
    if (n.type === 'json_schema' && 'json_schema' in n) {
      const schema = typeof n.json_schema === 'string' ? n.json_schema : JSON.stringify(n.json_schema);
      return { type: 'grammar', grammar: await this.jsonGrammar(schema, true) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(n)) out[k] = await this.compactTag(v);
    return out;
  }
}

/** xgrammar's indent -1: the whole value on one line. */
const ONE_LINE = -1;
/** json.dumps' separators. */
const SEPARATORS: [string, string] = [', ', ': '];

function describe(spec: GrammarSpec): string {
  return { json_schema: 'JSON schema', json_object: 'JSON object grammar', regex: 'regex', choice: 'choice list', ebnf: 'grammar', structural_tag: 'structural tag' }[spec.kind];
}
