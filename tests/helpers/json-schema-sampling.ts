import type OpenAI from 'openai';
import { expect } from 'vitest';

/** Outputs that cannot run past max_tokens (bounded strings, integers and arrays), so every one must be complete. */
export const SCHEMA = {
  type: 'object',
  properties: {
    answer: { type: 'integer', minimum: -50, maximum: 5000 },
    label: { enum: ['red', 'green', 'blue'] },
    ok: { type: 'boolean' },
    // Any characters, at most 6: on a byte-level vocabulary of single bytes (the 307-id fixture), xgrammar alone
    // lets such a string take bytes that are not UTF-8 (grammar/utf8-token-masks.ts); callers check for U+FFFD.
    name: { type: 'string', maxLength: 6 },
    note: { type: 'string', pattern: '^[a-z0-9 ]{0,6}$' },
    tags: { type: 'array', items: { type: 'string', pattern: '^[A-Z]{1,3}$' }, maxItems: 2 },
  },
  required: ['answer', 'label', 'ok', 'name', 'note', 'tags'],
  additionalProperties: false,
} as const;

/**
 * `requests` chat requests of n = 16 at temperature 1 (choice i of request k uses seed 16k + i), 4 in flight;
 * every output must end by itself and be valid UTF-8 (the server decodes leniently: bytes that are not UTF-8
 * would show as U+FFFD).
 */
export async function sampleJsonSchema(client: OpenAI, model: string, requests: number, maxTokens: number): Promise<string[]> {
  const outputs: string[] = [];
  for (let i = 0; i < requests; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, requests - i) }, (_, j) =>
        client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: `Reply with JSON #${i + j}` }],
          response_format: { type: 'json_schema', json_schema: { name: 'reply', schema: SCHEMA, strict: true } },
          temperature: 1,
          seed: (i + j) * 16,
          n: 16,
          max_tokens: maxTokens,
        }),
      ),
    );
    for (const r of batch) for (const c of r.choices) {
      expect(c.finish_reason).toBe('stop');
      expect(c.message.content).not.toContain('\uFFFD');
      outputs.push(c.message.content!);
    }
  }
  return outputs;
}

