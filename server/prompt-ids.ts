import { UnirError } from '../common/errors.js';
import type { AppContext } from './app-context.js';
import { checkPromptChars } from './prompt-length.js';

/**
 * A validated prompt (text or token ids) as token ids, checked as POST /v1/completions checks it. A text longer
 * than the context can hold is refused before tokenizing; long texts are tokenized off the event loop.
 */
export async function promptIds(ctx: AppContext, prompt: string | number[]): Promise<Int32Array> {
  if (typeof prompt !== 'string') {
    const bad = prompt.find((id) => id >= ctx.engine.base.vocabSize);
    if (bad !== undefined) throw new UnirError('invalid_request', `prompt token id ${bad} is outside the vocabulary`, 'prompt');
  } else {
    checkPromptChars(ctx, prompt, 'prompt');
  }
  const ids = typeof prompt === 'string' ? await ctx.text.run('encode', [prompt, true], prompt.length) : Int32Array.from(prompt);
  if (ids.length === 0) throw new UnirError('invalid_request', 'the prompt is empty after tokenization', 'prompt');
  return ids;
}
