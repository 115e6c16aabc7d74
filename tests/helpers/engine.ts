import { EngineClient } from '../../engine/engine-client.js';
import type { GenerationRequest, SequenceEvent } from '../../engine/generation-request.js';
import { DEFAULT_SAMPLING } from '../../kernels/sampling-params.js';
import type { ExecutionProvider } from '../../models/execution-provider.js';

export interface EngineTestOptions {
  maxBatch?: number;
  prefillChunk?: number;
  maxQueue?: number;
  /** Default cpu. */
  ep?: ExecutionProvider;
  /** Sampler workers (default: the engine's); samplerMinVocab lowers the vocabulary from which they are used. */
  samplerThreads?: number;
  samplerMinVocab?: number;
}

/** The real engine worker on a fixture; 1 intra-op thread. */
export async function startEngine(baseDir: string, opts: EngineTestOptions = {}): Promise<EngineClient> {
  return EngineClient.start({
    baseDir,
    session: { ep: opts.ep ?? 'cpu', deviceId: 0, threads: 1 },
    maxBatch: opts.maxBatch ?? 8,
    maxQueue: opts.maxQueue ?? 64,
    prefillChunk: opts.prefillChunk ?? 0,
    maxContext: Number.MAX_SAFE_INTEGER,
    samplerThreads: opts.samplerThreads,
    samplerMinVocab: opts.samplerMinVocab,
  });
}

export function greedyRequest(promptIds: ArrayLike<number>, maxTokens: number, extra: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    promptIds: Int32Array.from(promptIds),
    maxTokens,
    minTokens: 0,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    seed: null,
    stop: [],
    stopTokenIds: [],
    ignoreEos: true,
    logprobs: null,
    reasoners: [],
    ...extra,
  };
}

export interface Collected {
  tokens: number[];
  text: string;
  done: Extract<SequenceEvent, { kind: 'done' }>;
}

/** A sequence's tokens, text and done event; `onToken` runs as each token arrives. */
export async function collect(events: AsyncIterable<SequenceEvent>, onToken?: () => void): Promise<Collected> {
  const tokens: number[] = [];
  let text = '';
  for await (const e of events) {
    if (e.kind === 'token') {
      onToken?.();
      tokens.push(e.tokenId);
      text += e.text;
    } else {
      text += e.text;
      return { tokens, text, done: e };
    }
  }
  throw new Error('stream ended without a done event');
}
