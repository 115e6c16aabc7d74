import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { GrammarCache } from '../grammar/grammar-cache.js';
import { GrammarLogitsProcessor } from '../grammar/grammar-logits-processor.js';
import type { GenerationRequest } from './generation-request.js';

/**
 * The engine worker's grammars: one xgrammar compiler for the base's tokenizer (made at the first grammar
 * request: reading a 150k vocabulary takes a few hundred ms), the compiled-grammar cache, and a matcher per
 * sequence. Compiling runs in this thread between steps, never on the HTTP thread; a cache miss holds the
 * step loop for the compile (tens to a few hundred ms for a JSON schema at a 152k vocabulary).
 */
export class GrammarHost {
  private cache: Promise<GrammarCache> | null = null;

  constructor(
    private readonly tokenizerPath: string,
    private readonly vocabSize: number,
    private readonly eosTokenIds: readonly number[],
  ) {}

  /** Compiles (or finds) a spec; rejects with invalid_request naming what xgrammar refused. */
  async compile(spec: GrammarSpec): Promise<void> {
    await (await this.grammars()).get(spec);
  }

  /** A fresh matcher for one sequence of `request` (whose grammar must be set). */
  async processorFor(request: GenerationRequest): Promise<GrammarLogitsProcessor> {
    const cache = await this.grammars();
    const compiled = await cache.get(request.grammar!);
    const stops = [...new Set([...(request.ignoreEos ? [] : this.eosTokenIds), ...request.stopTokenIds])];
    return GrammarLogitsProcessor.create(cache.xg, compiled, stops);
  }

  private grammars(): Promise<GrammarCache> {
    this.cache ??= GrammarCache.create(this.tokenizerPath, this.vocabSize, this.eosTokenIds);
    return this.cache;
  }
}
