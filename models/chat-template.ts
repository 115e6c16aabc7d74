import { Template } from '@huggingface/jinja';
import { UnirError } from '../common/errors.js';

/** One message as the template sees it: role, content (a string, or the client's parts), and whatever else the client sent (tool_calls, tool_call_id, reasoning_content, name). */
export interface ChatMessage {
  role: string;
  content: string | Record<string, unknown>[];
  [field: string]: unknown;
}

/** What a template renders: transformers' apply_chat_template arguments. */
export interface ChatTemplateInput {
  messages: readonly ChatMessage[];
  /** OpenAI tool objects as the client sent them; null when the request has none. */
  tools?: readonly unknown[] | null;
  addGenerationPrompt: boolean;
  /** Extra template variables (vLLM's chat_template_kwargs, e.g. enable_thinking). */
  kwargs?: Record<string, unknown>;
}

/** Variables the server sets itself; chat_template_kwargs may not replace them. */
export const RESERVED_TEMPLATE_VARIABLES = ['messages', 'tools', 'add_generation_prompt', 'bos_token', 'eos_token'] as const;

/**
 * A model's chat template (tokenizer_config.json, or --chat-template), rendered with @huggingface/jinja the way
 * transformers' apply_chat_template renders it with Python's jinja2 (trim_blocks, lstrip_blocks, tojson,
 * raise_exception): tests compare both byte for byte.
 */
export class ChatTemplate {
  private readonly template: Template;
  /** The template loops over a message's content (`for x in message['content']`): parts reach it as a list. */
  readonly iteratesContent: boolean;
  /** The template reads the `tools` variable: without it, a request's tools cannot reach the model. */
  readonly rendersTools: boolean;

  constructor(
    readonly source: string,
    private readonly specials: { bos_token: string | null; eos_token: string | null },
  ) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new UnirError('invalid_model_dir', `the chat template does not parse: ${(err as Error).message}`);
    }
    this.iteratesContent = /\{%-?\s*for\s+\w+\s+in\s+\w+(?:\[\s*['"]content['"]\s*\]|\.content)\s*-?%\}/.test(source);
    this.rendersTools = /\btools\b/.test(source.replace(/\{#[\s\S]*?#\}/g, ''));
  }

  render(input: ChatTemplateInput): string {
    try {
      return this.template.render({
        ...input.kwargs,
        messages: input.messages,
        tools: input.tools ?? null,
        add_generation_prompt: input.addGenerationPrompt,
        bos_token: this.specials.bos_token ?? '',
        eos_token: this.specials.eos_token ?? '',
      });
    } catch (err) {
      throw new UnirError('invalid_request', `the model's chat template rejected these messages: ${(err as Error).message}`, 'messages');
    }
  }
}
