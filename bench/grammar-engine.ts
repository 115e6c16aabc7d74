/**
 * What a grammar costs the engine, through EngineClient (engine worker, grammar worker), on the Qwen3-vocabulary
 * fixture (151,936 ids, a tiny random-weight decoder: its step is mostly vocabulary-sized work, so a grammar's
 * cost shows at its largest relative size):
 *   1. per-token cost of a grammar sequence at batch 1: ms/token of a greedy stream under a cached JSON schema,
 *      minus that of the same stream without one;
 *   2. its effect on a concurrent unconstrained stream: that stream's ms/token beside the grammar stream, minus
 *      its ms/token beside another unconstrained stream;
 *   3. the stall a compile causes: while a stream decodes, a request with a schema not yet compiled arrives;
 *      the stream's longest gap between tokens, and how many tokens it made before the new request's first.
 * Each round runs every variant, in the opposite order every other round; a stream's figure is the median of
 * its inter-token gaps; differences are taken within a round (paired), and the table shows medians over rounds.
 *
 *   npx tsx bench/grammar-engine.ts [--rounds 9] [--tokens 160]
 */
import { EngineClient } from '../engine/engine-client.js';
import type { GenerationRequest, SequenceEvent } from '../engine/generation-request.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import { chatModelDir } from '../tests/helpers/chat-fixtures.js';
import { benchArgs, median, table } from './bench-args.js';

const args = benchArgs({ rounds: { type: 'string', default: '9' }, tokens: { type: 'string', default: '160' } });
const rounds = Number(args.rounds);
const tokens = Number(args.tokens);

/** Nested objects, arrays, enums, numbers and strings; `tag` varies the schema so each round compiles anew. */
const schema = (tag: string) => ({
  type: 'array',
  minItems: 50,
  items: {
    type: 'object',
    properties: {
      [`name_${tag}`]: { type: 'string' },
      age: { type: 'integer', minimum: 0, maximum: 150 },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 4 },
      address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string', pattern: '^[0-9]{5}$' } }, required: ['city', 'zip'] },
      status: { enum: ['active', 'inactive', 'banned'] },
      score: { type: 'number' },
    },
    required: [`name_${tag}`, 'age', 'tags', 'address', 'status', 'score'],
  },
});
const CACHED: GrammarSpec = { kind: 'json_schema', schema: schema('cached') };

function request(prompt: number, maxTokens: number, grammar: GrammarSpec | null): GenerationRequest {
  const promptIds = Int32Array.from({ length: 8 }, (_, j) => 1000 + prompt * 31 + j * 7);
  return { promptIds, maxTokens, minTokens: 0, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: null, stop: [], stopTokenIds: [], ignoreEos: grammar === null, logprobs: null, reasoners: [], grammar };
}

/** Token arrival times of one stream (after its first token). */
async function gaps(events: AsyncIterable<SequenceEvent>, onToken?: () => void): Promise<number[]> {
  const out: number[] = [];
  let last: number | null = null;
  for await (const e of events) {
    if (e.kind !== 'token') continue;
    const now = performance.now();
    if (last !== null) out.push(now - last);
    last = now;
    onToken?.();
  }
  return out;
}

const engine = await EngineClient.start({ baseDir: chatModelDir('qwen3'), session: { ep: 'cpu', deviceId: 0, threads: 1 }, maxBatch: 8, maxQueue: 64, prefillChunk: 0, maxContext: 4096 });
await engine.compileGrammar(CACHED);
const perToken = { plain: [] as number[], grammar: [] as number[], cost: [] as number[], besidePlain: [] as number[], besideGrammar: [] as number[], effect: [] as number[] };
const stall = { maxGap: [] as number[], tokensBefore: [] as number[], firstTokenMs: [] as number[] };

for (let r = 0; r < rounds; r++) {
  const alone = async (grammar: GrammarSpec | null) => median(await gaps(engine.submit(request(r, tokens, grammar))));
  const beside = async (grammar: GrammarSpec | null) => median((await Promise.all([gaps(engine.submit(request(r, tokens, null))), gaps(engine.submit(request(r + 1, tokens, grammar)))]))[0]);
  const variants = [async () => perToken.plain.push(await alone(null)), async () => perToken.grammar.push(await alone(CACHED)), async () => perToken.besidePlain.push(await beside(null)), async () => perToken.besideGrammar.push(await beside(CACHED))];
  for (const v of r % 2 === 0 ? variants : variants.reverse()) await v();
  perToken.cost.push(perToken.grammar[r] - perToken.plain[r]);
  perToken.effect.push(perToken.besideGrammar[r] - perToken.besidePlain[r]);

  // A long unconstrained stream; once it runs, a request whose schema is not compiled yet arrives.
  const controller = new AbortController();
  let made = 0;
  let started: () => void = () => {};
  const running = new Promise<void>((resolve) => (started = resolve));
  const stream = gaps(engine.submit(request(r, 4000, null), controller.signal), () => ++made === 10 && started());
  await running;
  const before = made;
  const t0 = performance.now();
  const fresh = engine.submit(request(r + 2, 4, { kind: 'json_schema', schema: schema(`r${r}_${process.pid}`) }));
  let firstAt = -1;
  for await (const e of fresh) if (e.kind === 'token' && firstAt < 0) firstAt = performance.now();
  const during = made - before;
  controller.abort();
  const all = await stream;
  stall.maxGap.push(Math.max(...all.slice(before - 1, before - 1 + during + 1)));
  stall.tokensBefore.push(during);
  stall.firstTokenMs.push(firstAt - t0);
}
await engine.close();

const m = (xs: number[]) => median(xs);
console.log(
  table(
    ['measure', 'ms/token'],
    [
      ['unconstrained stream alone (batch 1)', m(perToken.plain)],
      ['grammar stream alone (cached JSON schema, batch 1)', m(perToken.grammar)],
      ['  per-token cost of the grammar sequence (paired)', m(perToken.cost)],
      ['unconstrained stream beside an unconstrained one', m(perToken.besidePlain)],
      ['unconstrained stream beside the grammar stream', m(perToken.besideGrammar)],
      ['  effect on the unconstrained stream (paired)', m(perToken.effect)],
    ],
  ),
);
console.log();
console.log(
  table(
    ['while a new schema compiles', 'median over rounds'],
    [
      ['new request: ms to its first token (compile included)', m(stall.firstTokenMs)],
      ['running stream: longest gap between tokens, ms', m(stall.maxGap)],
      ['running stream: tokens made before the new request\'s first', m(stall.tokensBefore)],
    ],
  ),
);
console.log(`\n${rounds} rounds (order reversed every other one), ${tokens} tokens per stream; per-token figures are medians of inter-token gaps`);
