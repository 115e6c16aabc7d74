import type { ChatTemplate } from '../models/chat-template.js';
import type { TextTokenizer } from '../models/text-tokenizer.js';
import { renderChatPrompt } from './chat-prompt.js';
import type { PromptLimits } from './prompt-length.js';

/** What tokenization and templating need, on the main thread (AppContext) or in a text worker. */
export interface TextEnv extends PromptLimits {
  tokenizer: TextTokenizer;
  chatTemplate: ChatTemplate | null;
  modelId: string;
}

/**
 * The text work that may be heavy (linear in the input: megabytes of prompt are seconds of CPU), by name. Each is
 * a thin call of the function the routes used directly before, so its arguments pass through unchanged; it runs
 * in a text worker (server/text-pool.ts) or, for small inputs, inline.
 */
export const TEXT_TASKS = {
  encode: (env: TextEnv, text: string, addSpecialTokens: boolean) => env.tokenizer.encode(text, addSpecialTokens),
  decode: (env: TextEnv, ids: ArrayLike<number>, skipSpecialTokens: boolean) => env.tokenizer.decode(ids, skipSpecialTokens),
  renderChatPrompt: (env: TextEnv, ...args: Tail<Parameters<typeof renderChatPrompt>>) => renderChatPrompt(env, ...args),
};

export type TextTaskName = keyof typeof TEXT_TASKS;
export type TextTaskArgs<K extends TextTaskName> = Tail<Parameters<(typeof TEXT_TASKS)[K]>>;
export type TextTaskResult<K extends TextTaskName> = ReturnType<(typeof TEXT_TASKS)[K]>;
type Tail<T extends unknown[]> = T extends [unknown, ...infer R] ? R : never;
