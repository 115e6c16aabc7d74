import { completionBodySchema, singlePromptSchema, type CompletionBody } from './completion-schema.js';

/** A generation's id, chosen by the client; echoed in every message about that generation. */
const idSchema = {
  anyOf: [{ type: 'string', minLength: 1, maxLength: 256 }, { type: 'integer' }],
  description: 'Chosen by the client, unique among its generations in flight on the socket.',
} as const;

/**
 * `{type: 'generate', id, prompt, ...}` on /v1/stream: the fields and checks of POST /v1/completions (the same
 * schema objects), plus `type` and `id`; `model` is optional (default: the served model id).
 */
export const wsGenerateSchema = {
  type: 'object',
  required: ['type', 'id', 'prompt'],
  properties: {
    ...completionBodySchema.properties,
    prompt: singlePromptSchema,
    type: { const: 'generate' },
    id: idSchema,
  },
} as const;

export const wsCancelSchema = {
  type: 'object',
  required: ['type', 'id'],
  properties: { type: { const: 'cancel' }, id: idSchema },
} as const;

export type GenerationId = string | number;

export interface WsGenerateMessage extends Omit<CompletionBody, 'model' | 'prompt'> {
  type: 'generate';
  prompt: string | number[];
  id: GenerationId;
  model?: string;
}

export interface WsCancelMessage {
  type: 'cancel';
  id: GenerationId;
}
