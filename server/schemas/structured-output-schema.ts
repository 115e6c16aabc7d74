/**
 * Structured-output request fields (chat and completions): OpenAI's response_format, and vLLM's
 * structured_outputs object with its older guided_* fields. Give at most one of them.
 */
export const structuredOutputProperties = {
  response_format: {
    type: ['object', 'null'],
    required: ['type'],
    properties: {
      type: { type: 'string', enum: ['text', 'json_object', 'json_schema'] },
      json_schema: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 },
          description: { type: 'string' },
          schema: { type: 'object' },
          strict: { type: ['boolean', 'null'] },
        },
      },
    },
    default: null,
    description: '{"type": "json_object"} (any JSON object) or {"type": "json_schema", "json_schema": {name, schema, strict}}: the output is constrained by a grammar (xgrammar) to JSON valid for the schema. "text" is the default.',
  },
  structured_outputs: {
    type: ['object', 'null'],
    properties: {
      json: { anyOf: [{ type: 'object' }, { type: 'string' }] },
      regex: { type: 'string' },
      choice: { type: 'array', items: { type: 'string' }, minItems: 1 },
      grammar: { type: 'string' },
      json_object: { type: 'boolean' },
      structural_tag: { anyOf: [{ type: 'object' }, { type: 'string' }] },
    },
    default: null,
    description: 'vLLM\'s constraint object; exactly one of json (a JSON schema), regex, choice, grammar (EBNF, xgrammar\'s dialect, root rule `root`), json_object: true, structural_tag. Extension (vLLM).',
  },
  guided_json: { anyOf: [{ type: 'object' }, { type: 'string' }, { type: 'null' }], description: 'Older form of structured_outputs.json. Extension (vLLM).' },
  guided_regex: { type: ['string', 'null'], description: 'Older form of structured_outputs.regex. Extension (vLLM).' },
  guided_choice: { type: ['array', 'null'], items: { type: 'string' }, minItems: 1, description: 'Older form of structured_outputs.choice. Extension (vLLM).' },
  guided_grammar: { type: ['string', 'null'], description: 'Older form of structured_outputs.grammar. Extension (vLLM).' },
} as const;

export interface StructuredOutputBody {
  response_format?: { type: 'text' | 'json_object' | 'json_schema'; json_schema?: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean | null } } | null;
  structured_outputs?: {
    json?: Record<string, unknown> | string;
    regex?: string;
    choice?: string[];
    grammar?: string;
    json_object?: boolean;
    structural_tag?: Record<string, unknown> | string;
  } | null;
  guided_json?: Record<string, unknown> | string | null;
  guided_regex?: string | null;
  guided_choice?: string[] | null;
  guided_grammar?: string | null;
}
