import { UnirError } from '../common/errors.js';

/** What the cheap length check needs: the context, and how many characters one token stands for at most. */
export interface PromptLimits {
  maxContext: number;
  /** TextTokenizer.maxCharsPerToken. */
  maxCharsPerToken: number;
}

/**
 * Refuses, before tokenizing, a text that cannot fit the context: one token stands for at most maxCharsPerToken
 * characters, so a longer text than maxContext × that is more than maxContext tokens. Costs nothing; tokenizing
 * such a text would hold a thread for seconds.
 */
export function checkPromptChars(limits: PromptLimits, text: string, param: 'prompt' | 'messages'): void {
  const bound = limits.maxContext * limits.maxCharsPerToken;
  if (text.length <= bound) return;
  throw new UnirError(
    'context_length_exceeded',
    `This model's maximum context length is ${limits.maxContext} tokens. However, your ${param === 'messages' ? 'messages render' : 'prompt is'} ${param === 'messages' ? 'to ' : ''}${text.length} characters, more than ${limits.maxContext} tokens can hold (one token stands for at most ${limits.maxCharsPerToken} characters). Please reduce the length of the ${param}.`,
    param,
  );
}
