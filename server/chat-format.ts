import type { TokenEvent, TopLogprob } from '../engine/generation-request.js';
import type { TextTokenizer } from '../models/text-tokenizer.js';
import type { CollectedChoice } from './choice-collector.js';
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

function entry(tokenizer: TextTokenizer, id: number, logprob: number): { token: string; logprob: number; bytes: number[] } {
  const token = tokenizer.tokenText(id);
  return { token, logprob: floor(logprob), bytes: tokenBytes(tokenizer, id, token) };
}

export function chatLogprob(tokenizer: TextTokenizer, id: number, logprob: number, top: readonly TopLogprob[] | undefined): ChatLogprob {
  return { ...entry(tokenizer, id, logprob), top_logprobs: (top ?? []).map((t) => entry(tokenizer, t.id, t.logprob)) };
}

export function chatLogprobOfEvent(tokenizer: TextTokenizer, e: TokenEvent): ChatLogprob {
  return chatLogprob(tokenizer, e.tokenId, e.logprob ?? Number.NaN, e.topLogprobs);
}

/** A collected choice's logprobs: { content: [...] } with one entry per generated token. */
export function chatChoiceLogprobs(tokenizer: TextTokenizer, c: CollectedChoice): { content: ChatLogprob[] } {
  return { content: c.tokenIds.map((id, i) => chatLogprob(tokenizer, id, c.logprobs[i], c.topLogprobs[i])) };
}
