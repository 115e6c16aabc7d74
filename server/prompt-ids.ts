import { UnirError } from '../common/errors.js';
import type { AppContext } from './app-context.js';

/** A validated prompt (text or token ids) as token ids, checked as POST /v1/completions checks it. */
export function promptIds(ctx: AppContext, prompt: string | number[]): Int32Array {
  if (typeof prompt !== 'string') {
    const bad = prompt.find((id) => id >= ctx.engine.base.vocabSize);
    if (bad !== undefined) throw new UnirError('invalid_request', `prompt token id ${bad} is outside the vocabulary`, 'prompt');
  }
  const ids = typeof prompt === 'string' ? ctx.tokenizer.encode(prompt) : Int32Array.from(prompt);
  if (ids.length === 0) throw new UnirError('invalid_request', 'the prompt is empty after tokenization', 'prompt');
  return ids;
}
