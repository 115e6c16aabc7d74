import type { Logger } from 'pino';
import type { ReasonerRegistry, ReasonerSelection } from '../adapters/reasoner-registry.js';
import { UnirError } from '../common/errors.js';
import type { EngineClient } from '../engine/engine-client.js';
import type { ChatTemplate } from '../models/chat-template.js';
import type { LoadedDefaults, SamplingDefaults } from '../models/generation-defaults.js';
import type { TextTokenizer } from '../models/text-tokenizer.js';
import type { Lifecycle } from './lifecycle.js';
import type { Metrics } from './metrics.js';
import type { ServerOptions } from './options.js';
import type { TextPool } from './text-pool.js';

/** What exists once the base model is loaded. */
export interface ModelRuntime {
  engine: EngineClient;
  tokenizer: TextTokenizer;
  chatTemplate: ChatTemplate | null;
  registry: ReasonerRegistry;
  /** Tokenization, chat templating and detokenization, off the event loop for large inputs. */
  text: TextPool;
  /** Prompt + completion tokens at most. */
  maxContext: number;
  defaultReasoners: readonly ReasonerSelection[];
  /** Sampling fields a request omits (--generation-config), and the file they came from. */
  generationDefaults: LoadedDefaults;
}

/**
 * Everything routes use. The server listens before the model is loaded (so /health and /ready answer
 * during a long load); until then the model's parts throw not_ready (503).
 */
export class AppContext {
  private runtime: ModelRuntime | null = null;

  constructor(
    readonly options: ServerOptions,
    readonly log: Logger,
    readonly lifecycle: Lifecycle,
    readonly metrics: Metrics,
    /** The id clients send as `model`. */
    readonly modelId: string,
  ) {}

  setRuntime(runtime: ModelRuntime): void {
    this.runtime = runtime;
  }

  get loaded(): ModelRuntime | null {
    return this.runtime;
  }

  private get rt(): ModelRuntime {
    if (!this.runtime) throw new UnirError('not_ready', 'the model is still loading: retry when GET /ready answers 200');
    return this.runtime;
  }

  get engine(): EngineClient {
    return this.rt.engine;
  }
  get tokenizer(): TextTokenizer {
    return this.rt.tokenizer;
  }
  get chatTemplate(): ChatTemplate | null {
    return this.rt.chatTemplate;
  }
  get registry(): ReasonerRegistry {
    return this.rt.registry;
  }
  get maxContext(): number {
    return this.rt.maxContext;
  }
  get maxCharsPerToken(): number {
    return this.rt.tokenizer.maxCharsPerToken;
  }
  get text(): TextPool {
    return this.rt.text;
  }
  get defaultReasoners(): readonly ReasonerSelection[] {
    return this.rt.defaultReasoners;
  }
  get samplingDefaults(): SamplingDefaults {
    return this.rt.generationDefaults.defaults;
  }
}
