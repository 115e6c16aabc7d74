import type { SerializedError } from '../common/errors.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import type { SamplingParams } from '../kernels/sampling-params.js';
import type { TokenAttribution } from '../kernels/token-attribution.js';

/** A reasoning module version taking part in a sequence, with its fusion weight. */
export interface ReasonerUse {
  versionId: number;
  weight: number;
}

/** One sequence to generate, in native types: what a route hands the engine after validation. */
export interface GenerationRequest {
  promptIds: Int32Array;
  maxTokens: number;
  /** EOS and stop token ids are suppressed until this many tokens exist. */
  minTokens: number;
  sampling: SamplingParams;
  /** Null draws a random seed. Sequence i of an n>1 request gets seed + i. */
  seed: bigint | null;
  stop: readonly string[];
  stopTokenIds: readonly number[];
  ignoreEos: boolean;
  /** Null: no logprobs. A number: the sampled token's logprob and that many alternatives (0..20). */
  logprobs: number | null;
  reasoners: readonly ReasonerUse[];
  /** Entropy gate (engine/reasoner-gate.ts): modules run only at steps where the base's entropy in nats is at least this. Absent or null: every step. */
  reasonerGate?: { entropy: number } | null;
  /** Attach a TokenAttribution to every token event (kernels/token-attribution.ts). */
  attribution?: boolean;
  /** Structured output: the grammar the output must follow (compiled and cached in the engine worker). */
  grammar?: GrammarSpec | null;
}

export type FinishReason = 'stop' | 'length' | 'cancelled' | 'error';

export interface TopLogprob {
  id: number;
  logprob: number;
}

/**
 * A generated token whose text is in the returned text (EOS, stop tokens, skipped special tokens and a matched stop
 * string's tokens never are), with its logprobs when the request asked for them.
 */
export interface ReturnedToken {
  tokenId: number;
  /** Character offset of the token's text in the returned text (OpenAI's text_offset, before any echo). */
  offset: number;
  /** Only when a stop string begins inside the token: the part of its text that is returned. */
  text?: string;
  /**
   * The characters of the returned text this token accounts for, so that the entries join to the text: its
   * detokenizer delta ('' for a token that ends inside a character, the whole character for the one that completes
   * it), cut short where a stop string begins. Completions and WebSocket logprobs show this as the token.
   */
  returnedText: string;
  logprob?: number;
  topLogprobs?: TopLogprob[];
}

export interface TokenEvent {
  kind: 'token';
  seqId: number;
  /** The token sampled at this step. */
  tokenId: number;
  /** The text this event returns; '' while a character or a possible stop string is held back. */
  text: string;
  /** With logprobs: the tokens whose text `text` returns (possibly held since earlier steps), in order. */
  returnedTokens?: ReturnedToken[];
  /** Present when the request asked for attribution: this sampled token's (EOS and stop tokens included). */
  attribution?: TokenAttribution;
}

export interface DoneEvent {
  kind: 'done';
  seqId: number;
  finishReason: FinishReason;
  /** Text held back until the end (an incomplete stop-string prefix that did not become one). */
  text: string;
  /** With logprobs: the tokens whose text `text` returns. */
  returnedTokens?: ReturnedToken[];
  /** The stop string or stop token id that ended the sequence, as vLLM's stop_reason. */
  stopReason: string | number | null;
  promptTokens: number;
  completionTokens: number;
  /** Milliseconds the sequence waited for a batch slot. */
  queueMs: number;
  /** Present when the request asked for attribution: tokens attributed, and those where fused top != base top. */
  attribution?: { tokens: number; changed: number };
  /** Present when the request had an entropy gate and modules. */
  gate?: GateSummary;
  error?: SerializedError;
}

export type SequenceEvent = TokenEvent | DoneEvent;

/** What a sequence's entropy gate did: module runs needed (one per module per token), skipped, catch-up tokens fed. */
export interface GateSummary {
  moduleSteps: number;
  skipped: number;
  caughtUpTokens: number;
}
