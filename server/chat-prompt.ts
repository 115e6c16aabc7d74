import { UnirError } from '../common/errors.js';
import type { ChatMessage, ChatTemplate } from '../models/chat-template.js';
import { RESERVED_TEMPLATE_VARIABLES } from '../models/chat-template.js';
import { checkPromptChars } from './prompt-length.js';
import type { TextEnv } from './text-tasks.js';
import type { ChatMessageBody } from './schemas/chat-schema.js';

/** The request fields that shape a chat prompt (chat completions and /tokenize share them). */
export interface ChatPromptBody {
  messages: ChatMessageBody[];
  tools?: unknown[] | null;
  add_generation_prompt?: boolean | null;
  chat_template_kwargs?: Record<string, unknown> | null;
}

/**
 * Messages as the chat template sees them, as vLLM builds them for transformers' apply_chat_template:
 * content null becomes ''; text parts stay the client's list when the template iterates over content, else
 * they are joined into one string; tool_calls keep their shape with each function.arguments parsed from its
 * JSON string into an object (templates write it with tojson); tool_call_id, reasoning_content and name pass as sent.
 */
export function templateMessages(messages: readonly ChatMessageBody[], template: Pick<ChatTemplate, 'iteratesContent'>): ChatMessage[] {
  return messages.map((m, i) => {
    const { content: _content, tool_calls: toolCalls, ...rest } = m;
    const out: ChatMessage = { ...rest, content: template.iteratesContent && Array.isArray(m.content) ? checkedParts(m, i) : messageText(m, i) };
    if (toolCalls && toolCalls.length > 0) {
      out.tool_calls = toolCalls.map((call, j) => ({ ...call, function: { ...call.function, arguments: parseArguments(call.function.arguments, `messages.${i}.tool_calls.${j}.function.arguments`) } }));
    }
    return out;
  });
}

export function messageText(m: ChatMessageBody, index: number): string {
  if (m.content === null || m.content === undefined) return '';
  if (typeof m.content === 'string') return m.content;
  return checkedParts(m, index)
    .map((part) => part.text as string)
    .join('');
}

/** Just the fields that shape the prompt, for a text worker (server/text-pool.ts). */
export function promptBody(body: ChatPromptBody): ChatPromptBody {
  return { messages: body.messages, tools: body.tools, add_generation_prompt: body.add_generation_prompt, chat_template_kwargs: body.chat_template_kwargs };
}

/**
 * How much work rendering and tokenizing a chat prompt is, in characters: every string the template can see
 * (contents, names, tool calls, tool definitions, chat_template_kwargs) plus one per value, so that many empty
 * messages or a large tools list count too, not only the messages' contents. An explicit stack, not recursion: a
 * body may nest deeply.
 */
export function textSize(body: Pick<ChatPromptBody, 'messages' | 'tools' | 'chat_template_kwargs'>): number {
  let n = 0;
  const stack: unknown[] = [body.messages, body.tools, body.chat_template_kwargs];
  while (stack.length > 0) {
    const v = stack.pop();
    n += typeof v === 'string' ? v.length : 1;
    if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (v !== null && typeof v === 'object') {
      for (const [key, value] of Object.entries(v)) {
        n += key.length;
        stack.push(value);
      }
    }
  }
  return n;
}

function checkedParts(m: ChatMessageBody, index: number): Record<string, unknown>[] {
  const parts = m.content as Record<string, unknown>[];
  parts.forEach((part, j) => {
    if (part.type !== 'text') {
      throw new UnirError('invalid_request', `only text content parts are supported: messages[${index}].content[${j}] is of type "${String(part.type)}"`, `messages.${index}.content`);
    }
    if (typeof part.text !== 'string') {
      throw new UnirError('invalid_request', `messages[${index}].content[${j}] is a text part and needs "text" (a string)`, `messages.${index}.content.${j}.text`);
    }
  });
  return parts;
}

function parseArguments(args: unknown, param: string): unknown {
  if (typeof args !== 'string') return args;
  try {
    return JSON.parse(args);
  } catch {
    throw new UnirError('invalid_request', `'${param}' must be a JSON string of the call's arguments: ${JSON.stringify(args.slice(0, 80))} is not valid JSON`, param);
  }
}

/** Tools given to a template that never reads `tools` would silently not reach the model: a 400 instead. */
export function checkTemplateRendersTools(ctx: Pick<TextEnv, 'chatTemplate' | 'modelId'>): void {
  if (ctx.chatTemplate && !ctx.chatTemplate.rendersTools) {
    throw new UnirError('invalid_request', `the chat template of ${ctx.modelId} does not render tools, so the model cannot see them: start the server with --chat-template FILE holding a template that does`, 'tools');
  }
}

/** Renders a chat request through the model's chat template and tokenizes the result (the template writes any BOS). */
export function renderChatPrompt(ctx: TextEnv, body: ChatPromptBody): { text: string; ids: Int32Array } {
  const template = ctx.chatTemplate;
  if (!template) {
    throw new UnirError(
      'invalid_request',
      `the model ${ctx.modelId} has no chat template (tokenizer_config.json has no chat_template): start the server with --chat-template FILE, or use /v1/completions with a prompt`,
      'messages',
    );
  }
  const tools = body.tools && body.tools.length > 0 ? body.tools : null;
  if (tools) checkTemplateRendersTools(ctx);
  const kwargs = body.chat_template_kwargs ?? {};
  const reserved = RESERVED_TEMPLATE_VARIABLES.find((k) => k in kwargs);
  if (reserved) throw new UnirError('invalid_request', `chat_template_kwargs may not set "${reserved}": use the request field instead`, 'chat_template_kwargs');
  const text = template.render({ messages: templateMessages(body.messages, template), tools, addGenerationPrompt: body.add_generation_prompt ?? true, kwargs });
  checkPromptChars(ctx, text, 'messages');
  return { text, ids: ctx.tokenizer.encode(text, false) };
}
