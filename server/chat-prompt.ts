import { UnirError } from '../common/errors.js';
import type { ChatMessage } from '../models/chat-template.js';
import { checkPromptChars } from './prompt-length.js';
import type { TextEnv } from './text-tasks.js';
import type { ChatMessageBody } from './schemas/chat-schema.js';

/** Message bodies as the chat template sees them: content as one string ('' when absent). */
export function chatMessages(messages: readonly ChatMessageBody[]): ChatMessage[] {
  return messages.map((m, i) => {
    const out: ChatMessage = { role: m.role, content: messageText(m, i) };
    if (m.name !== undefined) out.name = m.name;
    return out;
  });
}

export function messageText(m: ChatMessageBody, index: number): string {
  if (m.content === null || m.content === undefined) return '';
  if (typeof m.content === 'string') return m.content;
  return m.content
    .map((part, j) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw new UnirError('invalid_request', `only text content parts are supported: messages[${index}].content[${j}] is of type "${part.type}"`, `messages.${index}.content`);
      }
      return part.text;
    })
    .join('');
}

/** Characters of the messages' contents: how much work rendering and tokenizing them is. */
export function textSize(messages: readonly ChatMessage[]): number {
  return messages.reduce((n, m) => n + m.content.length, 0);
}

/** Renders messages through the model's chat template and tokenizes the result (the template writes any BOS). */
export function renderChatPrompt(ctx: TextEnv, messages: readonly ChatMessage[], addGenerationPrompt: boolean): { text: string; ids: Int32Array } {
  const template = ctx.chatTemplate;
  if (!template) {
    throw new UnirError(
      'invalid_request',
      `the model ${ctx.modelId} has no chat template (tokenizer_config.json has no chat_template): start the server with --chat-template FILE, or use /v1/completions with a prompt`,
      'messages',
    );
  }
  const text = template.render(messages, addGenerationPrompt);
  checkPromptChars(ctx, text, 'messages');
  return { text, ids: ctx.tokenizer.encode(text, false) };
}
