import type { ReturnedToken, TopLogprob } from '../engine/generation-request.js';
import type { TextTokenizer } from '../models/text-tokenizer.js';
import { tokenBytes } from './token-bytes.js';

/** One entry of a chat choice's logprobs.content, in OpenAI's shape. */
export interface ChatLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/** JSON has no -Infinity; a token the fused distribution rules out reads as vLLM's -9999. */
const floor = (lp: number) => (lp < -9999 ? -9999 : lp);
const utf8 = new TextEncoder();

function entry(tokenizer: TextTokenizer, id: number, logprob: number): { token: string; logprob: number; bytes: number[] } {
  const token = tokenizer.tokenText(id);
  return { token, logprob: floor(logprob), bytes: tokenBytes(tokenizer, id, token) };
}

export function chatLogprob(tokenizer: TextTokenizer, id: number, logprob: number, top: readonly TopLogprob[] | undefined): ChatLogprob {
  return { ...entry(tokenizer, id, logprob), top_logprobs: (top ?? []).map((t) => entry(tokenizer, t.id, t.logprob)) };
}

/** A returned token's entry; one a stop string begins inside shows the returned part of its text (and its bytes). */
export function chatLogprobOf(tokenizer: TextTokenizer, t: ReturnedToken): ChatLogprob {
  const e = chatLogprob(tokenizer, t.tokenId, t.logprob ?? Number.NaN, t.topLogprobs);
  return t.text === undefined ? e : { ...e, token: t.text, bytes: [...utf8.encode(t.text)] };
}

/** Logprobs of returned tokens as { content: [...] }: the entries' bytes spell the text they return. */
export function chatLogprobs(tokenizer: TextTokenizer, tokens: readonly ReturnedToken[]): { content: ChatLogprob[] } {
  return { content: tokens.map((t) => chatLogprobOf(tokenizer, t)) };
}
