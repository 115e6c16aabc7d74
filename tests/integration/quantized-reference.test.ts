import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineClient } from '../../engine/engine-client.js';
import { fuseLogits } from '../../kernels/fuse-logits.js';
import { loadDecoder, type LoadedDecoder } from '../../models/load-decoder.js';
import type { RunningServer } from '../../server/start.js';
import { collect, greedyRequest, startEngine } from '../helpers/engine.js';
import { FIXTURES, type PromptReference } from '../helpers/fixtures.js';
import { Q4_GENAI } from '../helpers/layouts.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * An int4 export as the ORT-GenAI model builder writes it (MatMulNBits with 4-bit blocks, GroupQueryAttention
 * with its rotary embedding and a left-aligned KV cache, SkipSimplifiedLayerNormalization, genai_config.json) and
 * an int4 module in the same format, against PyTorch running the dequantized weights
 * (training/make_quantized_fixtures.py). Greedy tokens must be equal; logits within the stated tolerance (the
 * MatMulNBits CPU kernels at accuracy_level 4 quantize activations to int8).
 */
interface QuantizedReferences {
  tolerance: number;
  min_margin: number;
  models: { 'tiny-q4-genai': PromptReference[] };
  fused: { rq4: PromptReference[] };
}
const refs: QuantizedReferences = JSON.parse(readFileSync(join(FIXTURES, 'references-quantized.json'), 'utf8'));
const RQ4 = join(FIXTURES, 'reasoners-q4', 'rq4');
const cpu = { ep: 'cpu' as const, deviceId: 0, threads: 1 };

function worstDifference(row: Float32Array, expected: number[]): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(row[i] - expected[i]));
  return worst;
}

describe('MatMulNBits + GroupQueryAttention (ORT-GenAI layout) against the float reference', () => {
  let base: LoadedDecoder;
  let module: LoadedDecoder;
  beforeAll(async () => {
    base = await loadDecoder(Q4_GENAI, cpu);
    module = await loadDecoder(RQ4, cpu);
  });
  afterAll(async () => {
    await base.runner.session.release();
    await module.runner.session.release();
  });

  it('is read as what it is: genai_config.json, the contrib operators, a left-aligned cache', () => {
    expect(base.config.source).toBe('genai_config.json');
    expect(base.onnx.operators).toEqual(expect.arrayContaining(['com.microsoft.MatMulNBits', 'com.microsoft.GroupQueryAttention', 'com.microsoft.SkipSimplifiedLayerNormalization']));
    expect(base.onnx.externalData.map((d) => d.file)).toEqual(['model.onnx.data']);
    expect(base.signature).toMatchObject({ kvAlignment: 'left', hasPositionIds: false, numKvHeads: 2, kvDtype: 'float32' });
    expect(refs.tolerance).toBeLessThan(refs.min_margin / 2);
  });

  it('logits of every greedy step within the tolerance, and the reference\'s greedy tokens, alone and fused with the int4 module', async () => {
    let seqId = 0;
    const fused = new Float32Array(base.signature.vocabSize);
    for (const [withModule, list] of [[false, refs.models['tiny-q4-genai']], [true, refs.fused.rq4]] as const) {
      for (const ref of list) {
        seqId++;
        let tokens = Int32Array.from(ref.prompt_ids);
        for (let step = 0; step < ref.greedy_ids.length; step++) {
          const z = await base.runner.run([{ seqId, tokens }]);
          const row = withModule ? fuseLogits(fused, z.data, [{ row: (await module.runner.run([{ seqId, tokens }])).data, weight: 1 }]) : z.data;
          expect(worstDifference(row, ref.step_logits[step])).toBeLessThan(refs.tolerance);
          expect(row.indexOf(Math.max(...row))).toBe(ref.greedy_ids[step]);
          tokens = Int32Array.of(ref.greedy_ids[step]);
        }
        base.runner.release(seqId);
        module.runner.release(seqId);
      }
    }
  });
});

describe('the engine serving it: batches of different lengths, sequences joining and leaving, chunked prefill', () => {
  let engine: EngineClient;
  let chunked: EngineClient;
  beforeAll(async () => {
    [engine, chunked] = await Promise.all([startEngine(Q4_GENAI), startEngine(Q4_GENAI, { prefillChunk: 2 })]);
  });
  afterAll(async () => Promise.all([engine.close(), chunked.close()]));

  it('all prompts at once (right-padded prefill, left-aligned decode) give the reference\'s tokens', async () => {
    const list = refs.models['tiny-q4-genai'];
    const results = await Promise.all(list.map((r) => collect(engine.submit(greedyRequest(r.prompt_ids, r.greedy_ids.length)))));
    results.forEach((res, i) => expect(res.tokens).toEqual(list[i].greedy_ids));
  });

  it('joining and leaving at different steps (the cache re-laid out each time) and chunked prefill change nothing', async () => {
    const list = refs.models['tiny-q4-genai'];
    // Different max_tokens: sequences leave at different steps; staggered submits: they join mid-stream.
    const runs = list.map(async (r, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 15));
      const n = 3 + i;
      return (await collect(engine.submit(greedyRequest(r.prompt_ids, n)))).tokens;
    });
    (await Promise.all(runs)).forEach((tokens, i) => expect(tokens).toEqual(list[i].greedy_ids.slice(0, 3 + i)));
    const longest = list.at(-1)!;
    expect((await collect(chunked.submit(greedyRequest(longest.prompt_ids, longest.greedy_ids.length)))).tokens).toEqual(longest.greedy_ids);
  });
});

describe('served over HTTP with the int4 module loaded from its ORT-GenAI directory', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer(['--model', Q4_GENAI, '--reasoner', RQ4]);
  });
  afterAll(async () => server.close());

  it('base + module gives the fused reference\'s greedy tokens, concurrently with the base alone', async () => {
    const ask = (model: string, ref: PromptReference) =>
      postJson(`${server.url}/v1/completions`, { model, prompt: ref.prompt_ids, max_tokens: ref.greedy_ids.length, temperature: 0, ignore_eos: true, logprobs: 0 });
    const fusedRefs = refs.fused.rq4;
    const alone = refs.models['tiny-q4-genai'];
    const results = await Promise.all([...fusedRefs.map((r) => ask('tiny-q4-genai+rq4', r)), ...alone.map((r) => ask('tiny-q4-genai', r))]);
    const expected = [...fusedRefs, ...alone];
    results.forEach((res, i) => {
      expect(res.status).toBe(200);
      expect(res.body.choices[0].logprobs.tokens).toHaveLength(expected[i].greedy_ids.length);
    });
    // The token ids themselves: /tokenize of the text is not injective for random weights, so compare through logprobs' text.
    const texts = results.map((r) => r.body.choices[0].text);
    const detok = await Promise.all(expected.map((r) => postJson(`${server.url}/detokenize`, { tokens: r.greedy_ids })));
    // Special tokens are skipped in completions and kept by /detokenize; the fixtures' greedy ids hold none here.
    texts.forEach((t, i) => expect(t).toBe(detok[i].body.prompt));
  });
});
