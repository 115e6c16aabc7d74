import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineClient } from '../../engine/engine-client.js';
import { loadDecoder, type LoadedDecoder } from '../../models/load-decoder.js';
import { collect, greedyRequest, startEngine } from '../helpers/engine.js';
import { GQA, MHA, references } from '../helpers/fixtures.js';
import { describeEachProvider } from '../helpers/providers.js';

const cases = [
  { name: 'tiny-mha-f32' as const, dir: MHA, dtype: 'float32' as const },
  { name: 'tiny-gqa-f16' as const, dir: GQA, dtype: 'float16' as const },
];

/** Every provider against PyTorch's references (tolerance per provider and dtype: tests/helpers/provider-detection.ts). */
describeEachProvider('fixtures against PyTorch', ({ ep, tolerance }) => {
  describe.each(cases)('$name', ({ name, dir, dtype }) => {
    // The runner here and the engine below each own the device in turn (one thread drives a WebGPU device).
    describe('the decoder runner', () => {
      let model: LoadedDecoder;
      beforeAll(async () => {
        model = await loadDecoder(dir, { ep, deviceId: 0, threads: 1 });
      });
      afterAll(async () => {
        await model.runner.dispose();
        await model.runner.session.release();
      });

      it('reads the signature from the session', () => {
        const sig = model.signature;
        expect(model.ep).toBe(ep);
        expect(sig.kvDtype).toBe(dtype);
        expect(sig.hasPositionIds).toBe(name === 'tiny-mha-f32');
        // tiny-gqa-f16 is exported without it: the load adds it (models/logits-to-keep-rewrite.ts).
        expect(sig.logitsToKeepInput).toBe('num_logits_to_keep');
        expect(sig.numKvHeads).toBe(name === 'tiny-gqa-f16' ? 2 : 4);
        expect(sig.numLayers).toBe(2);
      });

      it.each(references.models[name].map((r) => [r.prompt, r] as const))(`logits of every greedy step of %j within ${tolerance[dtype]}`, async (_p, ref) => {
        const seqId = 1;
        let tokens = Int32Array.from(ref.prompt_ids);
        for (let step = 0; step < ref.greedy_ids.length; step++) {
          const logits = await model.runner.run([{ seqId, tokens }]);
          const expected = ref.step_logits[step];
          expect(logits.vocab).toBe(expected.length);
          let worst = 0;
          for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(logits.data[i] - expected[i]));
          expect(worst).toBeLessThan(tolerance[dtype]);
          tokens = Int32Array.of(ref.greedy_ids[step]);
        }
        model.runner.release(seqId);
      });
    });

    describe('the engine', () => {
      let engine: EngineClient;
      beforeAll(async () => {
        engine = await startEngine(dir, { ep });
      });
      afterAll(async () => engine.close());

      it('generates PyTorch\'s greedy tokens for all prompts at once (batched)', async () => {
        expect(engine.base.ep).toBe(ep);
        const refs = references.models[name];
        const results = await Promise.all(refs.map((r) => collect(engine.submit(greedyRequest(r.prompt_ids, r.greedy_ids.length)))));
        results.forEach((res, i) => {
          expect(res.tokens).toEqual(refs[i].greedy_ids);
          expect(res.done.finishReason).toBe('length');
        });
      });
    });
  });
});
