import { chatMessagesSchema, type ChatMessageBody } from './chat-schema.js';
import { toolProperties, type ToolDefinition } from './tool-schema.js';

const model = { type: 'string', minLength: 1, description: 'Optional: the served model id (BASE or BASE+modules; modules share the base\'s vocabulary).' } as const;

export const tokenizeBodySchema = {
  type: 'object',
  properties: {
    model,
    prompt: { type: 'string', description: 'Text to tokenize. Give either prompt or messages.' },
    messages: chatMessagesSchema,
    add_generation_prompt: { type: ['boolean', 'null'], default: true, description: 'With messages: let the chat template open the assistant\'s turn.' },
    tools: toolProperties.tools,
    chat_template_kwargs: { type: ['object', 'null'], default: null, description: 'With messages: extra chat template variables, as on chat completions.' },
    add_special_tokens: { type: ['boolean', 'null'], description: 'Add the tokenizer\'s special tokens (BOS); default true for prompt, false for messages (the template writes them).' },
    return_token_strs: { type: ['boolean', 'null'], default: false, description: 'Also return each token\'s text as token_strs.' },
  },
} as const;

export interface TokenizeBody {
  model?: string;
  prompt?: string;
  messages?: ChatMessageBody[];
  add_generation_prompt?: boolean | null;
  tools?: ToolDefinition[] | null;
  chat_template_kwargs?: Record<string, unknown> | null;
  add_special_tokens?: boolean | null;
  return_token_strs?: boolean | null;
}

export const detokenizeBodySchema = {
  type: 'object',
  required: ['tokens'],
  properties: {
    model,
    tokens: { type: 'array', items: { type: 'integer', minimum: 0 }, description: 'Token ids to turn into text (special tokens included).' },
  },
} as const;

export interface DetokenizeBody {
  model?: string;
  tokens: number[];
}
