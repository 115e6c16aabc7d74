/**
 * The messages of WebSocket /v1/stream as the page reads them (docs/websocket.md), and the attribution
 * entries token frames carry when asked with `return_attribution: true` (notes: the attribution wire format).
 * Types only: no DOM, so unit tests import it too.
 */

/** OpenAI's error object. */
export interface ApiErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string;
}

export interface TopToken {
  token_id: number;
  token: string;
  /** Natural log of the token's probability (base alone for base_top, the fused distribution for fused_top). */
  logprob: number;
}

/** One module's part in one token: weight × the module's logit, at the chosen token and at the base's top token. */
export interface ModuleContribution {
  name: string;
  weight: number;
  chosen: number;
  base_top: number;
  /** The entropy gate (reasoner_gate) kept the module from running at this token (both contributions are 0). */
  skipped?: boolean;
}

/** Per generated token, in order, the EOS or stop token that ended the text included (its text is not in the text). */
export interface AttributionEntry {
  token_id: number;
  token: string;
  base_top: TopToken;
  fused_top: TopToken;
  /** fused_top.token_id !== base_top.token_id: the modules changed the base's choice. */
  changed: boolean;
  /** Entropy of the base's next-token distribution, in nats (what the entropy gate compares). */
  base_entropy?: number;
  modules: ModuleContribution[];
}

export interface TokenFrame {
  type: 'token';
  id: string;
  index: number;
  /** The text this token completes ('' while held back: a partial UTF-8 character, a possible stop string). */
  text: string;
  token_id: number;
  attribution?: AttributionEntry[];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  attribution?: { tokens: number; changed: number };
}

export interface DoneFrame {
  type: 'done';
  id: string;
  finish_reason: string;
  stop_reason: string | number | null;
  /** Text held back at the end. */
  text: string;
  usage: Usage;
  /** Entries of the held-back tokens (an array), or the summary if a server puts it here rather than in usage. */
  attribution?: AttributionEntry[] | { tokens: number; changed: number };
}

export interface ErrorFrame {
  type: 'error';
  id?: string;
  index?: number;
  error: ApiErrorBody;
}

export type ServerFrame = TokenFrame | DoneFrame | ErrorFrame;

export interface ReasonerChoice {
  name: string;
  weight: number;
}

/** A `generate` message as the page sends it (a subset of the fields /v1/completions takes). */
export interface GenerateMessage {
  type: 'generate';
  id: string;
  prompt: string | number[];
  reasoners: ReasonerChoice[];
  max_tokens: number;
  temperature?: number;
  seed?: number;
  ignore_eos?: boolean;
  return_attribution?: boolean;
}
