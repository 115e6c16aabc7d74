import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fuseLogits } from '../../kernels/fuse-logits.js';
import { loadDecoder, type LoadedDecoder } from '../../models/load-decoder.js';
import { compareLogits, MHA, REASONERS, references } from '../helpers/fixtures.js';
import { describeEachProvider } from '../helpers/providers.js';

/** The fusion rule against PyTorch: every model runs with its own KV cache; z = z_base + sum w_i z_i. */
describeEachProvider('fused logits against PyTorch', ({ ep, tolerance }) => {
  const settings = { ep, deviceId: 0, threads: 1 };
  let base: LoadedDecoder;
  const modules: Record<string, LoadedDecoder> = {};
  beforeAll(async () => {
    base = await loadDecoder(MHA, settings);
    modules.r1 = await loadDecoder(join(REASONERS, 'r1'), settings);
    modules.r2 = await loadDecoder(join(REASONERS, 'r2'), settings);
  });
  afterAll(async () => {
    for (const m of [base, ...Object.values(modules)]) {
      await m.runner.dispose();
      await m.runner.session.release();
    }
  });

  it('r2 has a padded vocabulary (32 more logit rows than the base)', () => {
    expect(modules.r2.signature.vocabSize).toBe(base.signature.vocabSize + 32);
  });

  for (const combo of ['r1', 'r2', 'r1+r2']) {
    it(`${combo} (weights ${JSON.stringify(references.fused_weights[combo])}): fused logits at every greedy step within ${tolerance.float32} and PyTorch's greedy tokens`, async () => {
      const weights = references.fused_weights[combo];
      let seqId = 100;
      for (const ref of references.fused[combo]) {
        seqId++;
        let tokens = Int32Array.from(ref.prompt_ids);
        const out = new Float32Array(base.signature.vocabSize);
        for (let step = 0; step < ref.greedy_ids.length; step++) {
          const z = await base.runner.run([{ seqId, tokens }]);
          const terms = [];
          for (const [name, weight] of Object.entries(weights)) {
            const m = await modules[name].runner.run([{ seqId, tokens }]);
            terms.push({ row: m.data, weight });
          }
          fuseLogits(out, z.data, terms);
          const { worst, argmax } = compareLogits(out, ref.step_logits[step]);
          expect(worst).toBeLessThan(tolerance.float32);
          expect(argmax).toBe(ref.greedy_ids[step]);
          tokens = Int32Array.of(ref.greedy_ids[step]);
        }
        base.runner.release(seqId);
        for (const m of Object.values(modules)) m.runner.release(seqId);
      }
    });
  }
});
