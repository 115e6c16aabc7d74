import { MAX_WEIGHT } from '../../adapters/manifest.js';

/**
 * Request fields shared by /v1/completions, /v1/chat/completions and WebSocket generate messages, in
 * OpenAI's and vLLM's names and ranges. The descriptions and defaults are the endpoint reference
 * (README and /openapi.json are written from them).
 */
/** The five fields whose default is the model's generation_config.json value (--generation-config auto). */
const MODEL_DEFAULT = ' Default: the model\'s generation_config.json value (see --generation-config), else the one shown.';

export const samplingProperties = {
  max_tokens: { type: ['integer', 'null'], minimum: 1, description: 'Tokens to generate at most. Completions default to 16; chat defaults to the rest of the context.' },
  temperature: { type: ['number', 'null'], minimum: 0, maximum: 2, default: 1, description: `Divides the fused logits; 0 is greedy.${MODEL_DEFAULT}` },
  top_p: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1, default: 1, description: `Nucleus sampling: the smallest set of tokens whose probability reaches top_p.${MODEL_DEFAULT}` },
  top_k: { type: ['integer', 'null'], minimum: -1, default: -1, description: `Keep the k most likely tokens; -1 (or 0) keeps all.${MODEL_DEFAULT} Extension (vLLM).` },
  min_p: { type: ['number', 'null'], minimum: 0, maximum: 1, default: 0, description: `Drop tokens whose probability is below min_p times the top one.${MODEL_DEFAULT} Extension (vLLM).` },
  repetition_penalty: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 10, default: 1, description: `Divides positive (multiplies negative) logits of tokens in the prompt or output; 1 is off.${MODEL_DEFAULT} Extension (vLLM).` },
  presence_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2, default: 0, description: 'Subtracted once from the logit of every token already generated.' },
  frequency_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2, default: 0, description: 'Subtracted from a token\'s logit for each time it was generated.' },
  logit_bias: {
    type: ['object', 'null'],
    propertyNames: { pattern: '^[0-9]+$' },
    additionalProperties: { type: 'number', minimum: -100, maximum: 100 },
    default: null,
    description: 'Token id (as a string key) to a bias in [-100, 100] added to its logit.',
  },
  seed: { type: ['integer', 'null'], minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, default: null, description: 'Seeds the sampler: the same seed and request give the same text. With n > 1, choice i uses seed + i.' },
  stop: {
    // One type list, not anyOf: a failing branch of anyOf would name the wrong rule ("must be string").
    type: ['string', 'array', 'null'],
    minLength: 1,
    maxItems: 4,
    items: { type: 'string', minLength: 1 },
    default: null,
    description: 'A string or up to 4 strings (none empty) that end generation; the stop string is not returned.',
  },
  stop_token_ids: { type: ['array', 'null'], items: { type: 'integer', minimum: 0 }, maxItems: 64, default: null, description: 'Token ids that end generation (not returned). Extension (vLLM).' },
  min_tokens: { type: ['integer', 'null'], minimum: 0, default: 0, description: 'EOS and stop tokens are blocked until this many tokens exist. Extension (vLLM).' },
  ignore_eos: { type: ['boolean', 'null'], default: false, description: 'Keep generating past EOS. Extension (vLLM).' },
  n: { type: ['integer', 'null'], minimum: 1, maximum: 16, default: 1, description: 'Choices to generate for the prompt.' },
  stream: { type: ['boolean', 'null'], default: false, description: 'Stream tokens as server-sent events, ending with data: [DONE].' },
  stream_options: {
    type: ['object', 'null'],
    properties: { include_usage: { type: 'boolean' } },
    default: null,
    description: 'Only with stream: true (else 400, as OpenAI). include_usage: true adds usage: null to every chunk and a last chunk with the usage (and empty choices).',
  },
  reasoners: {
    type: ['array', 'null'],
    maxItems: 16,
    items: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1 },
        weight: { type: 'number', minimum: -MAX_WEIGHT, maximum: MAX_WEIGHT, description: 'Fusion weight; default: the module\'s default_weight.' },
      },
    },
    default: null,
    description: 'Reasoning modules fused with the base at every step: z = z_base + sum(weight * z_module). Default: the server\'s --default-reasoners. Extension.',
  },
  reasoner_gate: {
    type: ['object', 'null'],
    required: ['entropy'],
    additionalProperties: false,
    properties: { entropy: { type: 'number', minimum: 0, maximum: 1000, description: 'Threshold in nats.' } },
    default: null,
    description:
      'Entropy gate: the modules run, and are fused, only at steps where the entropy of the base\'s own next-token distribution is at least `entropy` nats; skipped tokens are fed to them in one run when the gate next opens, so their KV caches stay exact. 0 runs them at every step. Default: the server\'s --reasoner-gate (off). usage.reasoner_gate reports the module steps skipped. Extension.',
  },
  return_attribution: {
    type: ['boolean', 'null'],
    default: false,
    description:
      'Per generated token, what the modules changed: the base\'s top token, the fused top token, and each module\'s weight x logit at the chosen and at the base\'s top token (choices[].attribution; usage.attribution counts the tokens where the fused top differs from the base\'s). See docs/attribution.md. Extension.',
  },
  user: { type: ['string', 'null'], description: 'Accepted and ignored (OpenAI compatibility).' },
} as const;

export interface SamplingBody {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  /** An integer within +-(2^53 - 1), so that it survives JSON as an exact number. */
  seed?: number | null;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  min_tokens?: number | null;
  ignore_eos?: boolean | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  reasoners?: { name: string; weight?: number }[] | null;
  reasoner_gate?: { entropy: number } | null;
  return_attribution?: boolean | null;
  user?: string | null;
}
