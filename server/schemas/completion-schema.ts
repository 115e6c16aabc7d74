import { samplingProperties, type SamplingBody } from './sampling-schema.js';
import { structuredOutputProperties, type StructuredOutputBody } from './structured-output-schema.js';

export const completionBodySchema = {
  type: 'object',
  required: ['model', 'prompt'],
  properties: {
    model: { type: 'string', minLength: 1, description: 'The served model id, or BASE+module1+module2 to select reasoning modules by name.' },
    prompt: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1 }],
      description: 'The prompt: a string, or an array of token ids.',
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
  prompt: string | number[];
  logprobs?: number | null;
  echo?: boolean | null;
  best_of?: number | null;
  suffix?: string | null;
}
