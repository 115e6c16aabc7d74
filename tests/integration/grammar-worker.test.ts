import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { EngineClient } from '../../engine/engine-client.js';
import type { GrammarSpec } from '../../grammar/grammar-spec.js';
import { UnirError } from '../../common/errors.js';
import { chatModelDir } from '../helpers/chat-fixtures.js';
import { collect, greedyRequest, startEngine } from '../helpers/engine.js';
import { MHA } from '../helpers/fixtures.js';

/** A JSON schema that takes xgrammar hundreds of ms to compile at 151,936 ids; `tag` makes it a cache miss. */
const slowSchema = (tag: string): GrammarSpec => ({
  kind: 'json_schema',
  schema: {
    type: 'array',
    items: {
      type: 'object',
      properties: { [`name_${tag}`]: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } }, zip: { type: 'string', pattern: '^[0-9]{5}$' }, status: { enum: ['a', 'b'] } },
      required: [`name_${tag}`, 'tags', 'zip', 'status'],
    },
  },
});

describe('the grammar worker beside the engine (Qwen3 vocabulary: 151,936 ids)', () => {
  let engine: EngineClient;
  beforeAll(async () => {
    engine = await startEngine(chatModelDir('qwen3'), { maxBatch: 4 });
    // The grammar worker is up and its runtime made: what follows measures a compile, not the start.
    await engine.compileGrammar({ kind: 'choice', choices: ['warm'] });
  });
  afterAll(() => engine?.close());

  test('a running stream keeps producing tokens while a new grammar compiles; the grammar sequence joins when it is ready', async () => {
    const controller = new AbortController();
    let made = 0;
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    const plain = collect(engine.submit(greedyRequest([11, 12, 13], 4000), controller.signal), () => ++made === 5 && running());
    await started;
    const misses = (await engine.grammarStats()).misses;
    const before = made;
    let atFirst = -1;
    const constrained = await collect(engine.submit(greedyRequest([21, 22], 12, { ignoreEos: false, grammar: slowSchema('a') })), () => atFirst < 0 && (atFirst = made));
    controller.abort();
    expect((await plain).done.finishReason).toBe('cancelled');
    // The compile happened while the stream ran (a cache miss), and the stream made tokens all the while: with
    // the compile on the engine's step loop it made at most the one step already under way between the request
    // and the grammar's first token. How many more it makes depends on the machine's load (11 to 40 seen), so
    // the bound is the one that tells the two designs apart, not a speed.
    expect((await engine.grammarStats()).misses).toBe(misses + 1);
    expect(atFirst - before).toBeGreaterThanOrEqual(3);
    expect(constrained.done.finishReason).toBe('length');
    expect(constrained.text.startsWith('[')).toBe(true);
  });

  test('requests that send the same new schema at once share one compile', async () => {
    // Opens that reach the worker while a compile starts are started together after it: each used to miss the
    // cache and compile the schema again (40 streaming chat requests: 40 compiles, 55 s of CPU). Whether they
    // arrive in time is up to the threads, so three rounds.
    for (const round of ['c', 'd', 'e']) {
      const misses = (await engine.grammarStats()).misses;
      const controller = new AbortController();
      const running = collect(engine.submit(greedyRequest([40], 4000, { ignoreEos: false, grammar: { kind: 'regex', pattern: `[a-z]+${round}` } }), controller.signal));
      await Promise.all(Array.from({ length: 8 }, (_, i) => collect(engine.submit(greedyRequest([41 + i], 2, { ignoreEos: false, grammar: slowSchema(round) })))));
      controller.abort();
      await running;
      expect((await engine.grammarStats()).misses).toBe(misses + 2);
    }
  });

  test('a sequence cancelled while its grammar compiles ends at once, cancelled; its matcher is freed', async () => {
    const controller = new AbortController();
    const events = engine.submit(greedyRequest([31], 8, { ignoreEos: false, grammar: slowSchema('b') }), controller.signal);
    controller.abort();
    const { done, tokens } = await collect(events);
    expect({ reason: done.finishReason, tokens: tokens.length }).toEqual({ reason: 'cancelled', tokens: 0 });
    // Still compiled (for the next request with it); its matcher, made when the compile ended, is closed by the
    // engine once it hears of it (polled: the close and this thread's questions travel different channels).
    await engine.compileGrammar(slowSchema('b'));
    for (let i = 0; i < 500 && (await engine.grammarStats()).matchers > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await engine.grammarStats()).matchers).toBe(0);
  });
});

test('xgrammar aborts on bad specs never corrupt the serving runtime: 90 refusals, then grammars still compile and decode', async () => {
  const engine = await startEngine(MHA, { maxBatch: 2 });
  try {
    // Before the fix, one instance failed after ~50 aborted schemas ("memory access out of bounds") and hung
    // after ~70 aborted regexes.
    const bad: GrammarSpec[] = Array.from({ length: 90 }, (_, i) =>
      i % 3 === 0 ? { kind: 'json_schema', schema: { type: `objec${i}` } } : i % 3 === 1 ? { kind: 'regex', pattern: `[a-${i}` } : { kind: 'ebnf', grammar: `root ::= undefined_${i}` },
    );
    for (const spec of bad) {
      const err = await engine.compileGrammar(spec).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(UnirError);
      expect((err as UnirError).code).toBe('invalid_request');
    }
    const spec: GrammarSpec = { kind: 'json_schema', schema: { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 99 } }, required: ['n'] } };
    await engine.compileGrammar(spec);
    const { text, done } = await collect(engine.submit(greedyRequest([1, 2, 3], 40, { ignoreEos: false, grammar: spec })));
    expect(done.finishReason).toBe('stop');
    expect(JSON.parse(text)).toEqual({ n: expect.any(Number) });
    const stats = await engine.grammarStats();
    // Each abort cost the probe a fresh instance; the serving runtime (compiled grammars, matchers) was never touched.
    expect({ runtimes: stats.runtimes, probes: stats.probes }).toEqual({ runtimes: 1, probes: 91 });
  } finally {
    await engine.close();
  }
}, 120_000);
