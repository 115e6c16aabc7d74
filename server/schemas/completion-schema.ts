import { samplingProperties, type SamplingBody } from './sampling-schema.js';
import { structuredOutputProperties, type StructuredOutputBody } from './structured-output-schema.js';

/** One prompt, as /v1/stream takes it: a string or one array of token ids. */
export const singlePromptSchema = {
  type: ['string', 'array'],
  minItems: 1,
  items: { type: 'integer', minimum: 0 },
  description: 'The prompt: a string, or an array of token ids.',
} as const;

export const completionBodySchema = {
  type: 'object',
  required: ['model', 'prompt'],
  properties: {
    model: { type: 'string', minLength: 1, description: 'The served model id, or BASE+module1+module2 to select reasoning modules by name.' },
    prompt: {
      type: ['string', 'array'],
      minItems: 1,
      items: { type: ['string', 'integer', 'array'] },
      description:
        'The prompt(s), as OpenAI documents them: a string, an array of strings, an array of token ids, or an array of token-id arrays. ' +
        'Several prompts give n choices each, indexed prompt by prompt (choice p*n + i); usage sums over them.',
    },
    ...samplingProperties,
    logprobs: { type: ['integer', 'null'], minimum: 0, maximum: 20, default: null, description: 'Return the sampled token\'s logprob and this many alternatives per token, from the fused distribution.' },
    echo: { type: ['boolean', 'null'], default: false, description: 'Prepend the prompt to the returned text.' },
    best_of: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Only best_of = n is supported.' },
    suffix: { type: ['string', 'null'], default: null, description: 'Not supported (must be absent or null).' },
    ...structuredOutputProperties,
  },
} as const;

export interface CompletionBody extends SamplingBody, StructuredOutputBody {
  model: string;
  prompt: string | (string | number | number[])[];
  /** A chat parameter: refused here (OpenAI's completions take max_tokens). */
  max_completion_tokens?: unknown;
  logprobs?: number | null;
  echo?: boolean | null;
  best_of?: number | null;
  suffix?: string | null;
}
