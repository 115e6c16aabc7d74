import { describe, expect, it } from 'vitest';
import { textSize } from '../../../server/chat-prompt.js';
import type { ChatMessageBody } from '../../../server/schemas/chat-schema.js';
import { INLINE_MAX } from '../../../server/text-pool.js';

/**
 * textSize decides whether a chat prompt is rendered on the event loop or in a text worker: every part of the body
 * that the template renders must count, not only the messages' contents (33,000 empty messages, a 1 MiB body,
 * took 0.6 s of the event loop to render when only contents counted).
 */
describe('textSize: the work of rendering a chat prompt', () => {
  const user = (content: string): ChatMessageBody => ({ role: 'user', content }) as ChatMessageBody;

  it('a short conversation is small enough to render inline', () => {
    expect(textSize({ messages: [user('hello there'), { role: 'assistant', content: 'hi' } as ChatMessageBody] })).toBeLessThan(200);
  });

  it('many empty messages, a large tools list, long names or template kwargs go to a text worker', () => {
    const many = Array.from({ length: 5_000 }, () => user(''));
    expect(textSize({ messages: many })).toBeGreaterThan(INLINE_MAX);
    const tools = Array.from({ length: 300 }, (_, i) => ({ type: 'function', function: { name: `f${i}`, parameters: { type: 'object' } } }));
    expect(textSize({ messages: [user('hi')], tools })).toBeGreaterThan(INLINE_MAX);
    expect(textSize({ messages: [{ role: 'user', content: '', name: 'n'.repeat(5_000) } as ChatMessageBody] })).toBeGreaterThan(INLINE_MAX);
    expect(textSize({ messages: [user('hi')], chat_template_kwargs: { notes: Array.from({ length: 5_000 }, () => 0) } })).toBeGreaterThan(INLINE_MAX);
  });
});
