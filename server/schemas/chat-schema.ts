import { samplingProperties, type SamplingBody } from './sampling-schema.js';
import { structuredOutputProperties, type StructuredOutputBody } from './structured-output-schema.js';
import { toolProperties, type ToolBody, type ToolCallBody } from './tool-schema.js';

/** One chat message: a role and its text (a string, or text parts as OpenAI sends them). */
export const chatMessagesSchema = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    required: ['role'],
    properties: {
      role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
      content: {
        anyOf: [
          { type: 'string' },
          { type: 'array', items: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, text: { type: 'string' } } } },
          { type: 'null' },
        ],
      },
      name: { type: 'string' },
      tool_calls: {
        type: ['array', 'null'],
        items: {
          type: 'object',
          required: ['function'],
          properties: {
            id: { type: 'string' },
            type: { type: 'string', enum: ['function'] },
            function: { type: 'object', required: ['name', 'arguments'], properties: { name: { type: 'string' }, arguments: { type: 'string' } } },
          },
        },
      },
      tool_call_id: { type: ['string', 'null'] },
      reasoning_content: { type: ['string', 'null'] },
    },
  },
  description: 'The conversation: {role, content} objects; content is a string or an array of {type: "text", text} parts. Assistant messages may carry tool_calls and reasoning_content, tool messages a tool_call_id; all reach the chat template.',
} as const;

export const chatBodySchema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1, description: 'The served model id, or BASE+module1+module2 to select reasoning modules by name.' },
    messages: chatMessagesSchema,
    ...samplingProperties,
    max_completion_tokens: { type: ['integer', 'null'], minimum: 1, default: null, description: 'OpenAI\'s newer name for max_tokens (give one of them).' },
    logprobs: { type: ['boolean', 'null'], default: false, description: 'Return the logprob of each output token, from the fused distribution (before penalties, temperature and filters).' },
    top_logprobs: { type: ['integer', 'null'], minimum: 0, maximum: 20, default: null, description: 'With logprobs: true, also this many most likely alternatives per token.' },
    add_generation_prompt: { type: ['boolean', 'null'], default: true, description: 'Let the chat template open the assistant\'s turn. Extension (vLLM).' },
    echo: { type: ['boolean', 'null'], default: false, description: 'When the last message is the assistant\'s, the reply starts with its content (continue it with add_generation_prompt: false). Extension (vLLM).' },
    ...toolProperties,
    chat_template_kwargs: { type: ['object', 'null'], default: null, description: 'Extra variables for the chat template, e.g. {"enable_thinking": false} on Qwen3. Extension (vLLM).' },
    ...structuredOutputProperties,
  },
} as const;

export interface ChatContentPart {
  type: string;
  text?: string;
  [field: string]: unknown;
}

export interface ChatMessageBody {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | ChatContentPart[] | null;
  name?: string;
  tool_calls?: ToolCallBody[] | null;
  tool_call_id?: string | null;
  reasoning_content?: string | null;
}

export interface ChatBody extends SamplingBody, StructuredOutputBody, ToolBody {
  model: string;
  messages: ChatMessageBody[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  add_generation_prompt?: boolean | null;
  echo?: boolean | null;
  chat_template_kwargs?: Record<string, unknown> | null;
}
