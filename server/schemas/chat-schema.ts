import { samplingProperties, type SamplingBody } from './sampling-schema.js';

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
    },
  },
  description: 'The conversation: {role, content} objects; content is a string or an array of {type: "text", text} parts.',
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
    tools: { type: ['array', 'null'], default: null, description: 'Not supported (must be absent, null or empty).' },
    response_format: { type: ['object', 'null'], default: null, description: 'Only {"type": "text"} is supported.' },
  },
} as const;

export interface ChatContentPart {
  type: string;
  text?: string;
}

export interface ChatMessageBody {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | ChatContentPart[] | null;
  name?: string;
}

export interface ChatBody extends SamplingBody {
  model: string;
  messages: ChatMessageBody[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  add_generation_prompt?: boolean | null;
  echo?: boolean | null;
  tools?: unknown[] | null;
  response_format?: { type?: string } | null;
}
