import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonerRegistry } from '../../adapters/reasoner-registry.js';
import { EngineClient } from '../../engine/engine-client.js';
import type { SequenceEvent } from '../../engine/generation-request.js';
import { fuseLogits } from '../../kernels/fuse-logits.js';
import { halfToFloat } from '../../models/float16.js';
import { loadDecoder, type LoadedDecoder } from '../../models/load-decoder.js';
import { LogitsFuseGraph } from '../../models/logits-fuse-graph.js';
import { greedyRequest } from '../helpers/engine.js';
import { compareLogits, MHA, REASONERS, references } from '../helpers/fixtures.js';
import { describeEachProvider, GPU_PROVIDERS } from '../helpers/providers.js';
import { rng } from '../helpers/random.js';

/** `--fusion-site device`: the same sums as the host's kernel, computed where the logits are. */
describeEachProvider('the logits fusion graph against the host kernel', ({ ep }) => {
  const graph = new LogitsFuseGraph(ep === 'cpu' ? 'cpu' : 'gpu-buffer');
  afterAll(() => graph.release());

  it('base + modules with padded and shorter vocabularies, weights 1 / 0.5 / 0, rows without a module, NaN in rows not taken', async () => {
    const next = rng(5);
    const V = 97;
    const n = 5;
    const make = (rows: number, vocab: number) => Float32Array.from({ length: rows * vocab }, () => (next() - 0.5) * 20);
    const base = make(n, V);
    const m1 = make(3, V + 32); // padded: only the first V ids count
    const m2 = make(2, V - 10); // shorter: ids past its end take the base alone
    m2.fill(Number.NaN, 0, V - 10); // row 0 of m2 is taken by no one: its NaNs must not leak
    const m1Rows = Int32Array.of(0, -1, 1, 2, -1);
    const m2Rows = Int32Array.of(-1, 1, -1, 1, -1);
    const w1 = Float32Array.of(1, 0, 0.5, 0, 0);
    const w2 = Float32Array.of(0, 0.5, 0, 1, 0);
    const t = (data: Float32Array, rows: number, vocab: number) => new ort.Tensor('float32', data, [rows, 1, vocab]);
    const fused = await graph.fuse(
      [
        { logits: t(base, n, V), rows: Int32Array.of(0, 1, 2, 3, 4), weights: new Float32Array(n).fill(1) },
        { logits: t(m1, 3, V + 32), rows: m1Rows, weights: w1 },
        { logits: t(m2, 2, V - 10), rows: m2Rows, weights: w2 },
      ],
      n,
      V,
    );
    for (let i = 0; i < n; i++) {
      const terms = [];
      if (m1Rows[i] >= 0) terms.push({ row: m1.subarray(m1Rows[i] * (V + 32), (m1Rows[i] + 1) * (V + 32)), weight: w1[i] });
      if (m2Rows[i] >= 0) terms.push({ row: m2.subarray(m2Rows[i] * (V - 10), (m2Rows[i] + 1) * (V - 10)), weight: w2[i] });
      const expected = fuseLogits(new Float32Array(V), base.subarray(i * V, (i + 1) * V), terms);
      const got = fused.subarray(i * V, (i + 1) * V);
      for (let j = 0; j < V; j++) expect(Math.abs(got[j] - expected[j])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(expected[j])));
    }
  });

  it('float16 logits (a float16 export\'s) beside float32 ones are summed in float32', async () => {
    const next = rng(9);
    const V = 64;
    // Finite halves: sign, exponent 10..19 (about 2^-5 .. 2^4), any fraction.
    const half = () => ((next() < 0.5 ? 0x8000 : 0) | ((10 + Math.floor(next() * 10)) << 10) | Math.floor(next() * 1024));
    const baseBits = Uint16Array.from({ length: 2 * V }, half);
    const module = Float32Array.from({ length: V }, () => next() * 4 - 2);
    const fused = await graph.fuse(
      [
        { logits: new ort.Tensor('float16', baseBits, [2, 1, V]), rows: Int32Array.of(0, 1), weights: Float32Array.of(1, 1) },
        { logits: new ort.Tensor('float32', module, [1, 1, V]), rows: Int32Array.of(-1, 0), weights: Float32Array.of(0, 0.5) },
      ],
      2,
      V,
    );
    const base = halfToFloat(baseBits);
    const expected = [fuseLogits(new Float32Array(V), base.subarray(0, V), []), fuseLogits(new Float32Array(V), base.subarray(V), [{ row: module, weight: 0.5 }])];
    for (let i = 0; i < 2; i++) for (let j = 0; j < V; j++) expect(Math.abs(fused[i * V + j] - expected[i][j])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(expected[i][j])));
  });
});

/** Every model's logits stay on the device; only the fused rows come down; against PyTorch and against host fusion. */
describeEachProvider(
  'device-side fusion',
  ({ ep, tolerance }) => {
    describe('the graph over the models\' device logits, against PyTorch', () => {
      const settings = { ep, deviceId: 0, threads: 1, logitsOnDevice: true };
      let base: LoadedDecoder;
      const modules: Record<string, LoadedDecoder> = {};
      const graph = new LogitsFuseGraph('gpu-buffer');
      beforeAll(async () => {
        base = await loadDecoder(MHA, settings);
        modules.r1 = await loadDecoder(join(REASONERS, 'r1'), settings);
        modules.r2 = await loadDecoder(join(REASONERS, 'r2'), settings);
      });
      afterAll(async () => {
        await graph.release();
        for (const m of [base, ...Object.values(modules)]) {
          await m.runner.dispose();
          await m.runner.session.release();
        }
      });

      it(`r1+r2 (weights 1 / 0.5, r2 padded by 32 ids): fused logits at every greedy step within ${tolerance.float32}, logits never on the host`, async () => {
        const weights = references.fused_weights['r1+r2'];
        let seqId = 0;
        for (const ref of references.fused['r1+r2']) {
          seqId++;
          let tokens = Int32Array.from(ref.prompt_ids);
          for (let step = 0; step < ref.greedy_ids.length; step++) {
            const runs = [await base.runner.run([{ seqId, tokens }])];
            for (const name of Object.keys(weights)) runs.push(await modules[name].runner.run([{ seqId, tokens }]));
            for (const r of runs) expect(r.device?.location).toBe('gpu-buffer');
            const fused = await graph.fuse(
              runs.map((r, i) => ({ logits: r.device!, rows: Int32Array.of(0), weights: Float32Array.of(i === 0 ? 1 : Object.values(weights)[i - 1]) })),
              1,
              base.signature.vocabSize,
            );
            for (const r of runs) r.device!.dispose();
            const { worst, argmax } = compareLogits(fused, ref.step_logits[step]);
            expect(worst).toBeLessThan(tolerance.float32);
            expect(argmax).toBe(ref.greedy_ids[step]);
            tokens = Int32Array.of(ref.greedy_ids[step]);
          }
          for (const m of [base, ...Object.values(modules)]) m.runner.release(seqId);
        }
      });
    });

    describe('the engine with --fusion-site device against --fusion-site host', () => {
      async function run(fusionSite: 'host' | 'device') {
        const engine = await EngineClient.start({ baseDir: MHA, session: { ep, deviceId: 0, threads: 1 }, maxBatch: 4, maxQueue: 16, prefillChunk: 5, maxContext: 4096, fusionSite });
        const registry = new ReasonerRegistry(engine, MHA, { ep, deviceId: 0, threads: 1, logitsOnDevice: fusionSite === 'device' });
        try {
          await registry.load(join(REASONERS, 'r1'));
          await registry.load(join(REASONERS, 'r2'));
          const sets = [[], [{ name: 'r1' }], [{ name: 'r1' }, { name: 'r2', weight: 0.5 }], [{ name: 'r2' }]];
          // Joins and leaves (different lengths), chunked prefill, module sets mixed in one batch; logprobs show the fused values.
          const outs = await Promise.all(
            references.fused['r1+r2'].map((ref, i) =>
              collect(engine.submit(greedyRequest(ref.prompt_ids, 6 + 3 * i, { reasoners: registry.acquire(sets[i % sets.length]).uses, logprobs: 3 }))),
            ),
          );
          return { outs, stats: await engine.stats() };
        } finally {
          await registry.close();
          await engine.close();
        }
      }

      it('same greedy tokens; top logprobs within 1e-4; the r1+r2 request gives PyTorch\'s greedy tokens', async () => {
        const host = await run('host');
        const device = await run('device');
        expect(device.outs.map((o) => o.tokens)).toEqual(host.outs.map((o) => o.tokens));
        device.outs.forEach((o, i) =>
          o.top.forEach((t, j) => {
            const h = host.outs[i].top[j];
            expect(Object.keys(t)).toEqual(Object.keys(h));
            for (const k of Object.keys(t)) expect(Math.abs(t[k] - h[k])).toBeLessThan(1e-4);
          }),
        );
        expect(device.outs[2].tokens.slice(0, 8)).toEqual(references.fused['r1+r2'][2].greedy_ids);
        expect(device.stats.relayouts).toBeGreaterThan(0);
        expect(host.stats.deviceFusedRows).toBe(0);
        expect(device.stats.deviceFusedRows).toBe(device.outs.reduce((n, o) => n + o.tokens.length, 0));
      });
    });
  },
  GPU_PROVIDERS.filter((ep) => ep === 'webgpu'),
);

async function collect(events: AsyncIterable<SequenceEvent>): Promise<{ tokens: number[]; top: Record<string, number>[] }> {
  const tokens: number[] = [];
  const top: Record<string, number>[] = [];
  for await (const e of events) {
    if (e.kind === 'token') {
      tokens.push(e.tokenId);
      top.push(Object.fromEntries((e.topLogprobs ?? []).map((t) => [String(t.id), t.logprob])));
    } else if (e.finishReason === 'error') throw new Error(e.error?.message);
  }
  return { tokens, top };
}
