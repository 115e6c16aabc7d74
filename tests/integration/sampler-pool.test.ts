import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonerRegistry } from '../../adapters/reasoner-registry.js';
import type { EngineClient } from '../../engine/engine-client.js';
import type { GenerationRequest, SequenceEvent } from '../../engine/generation-request.js';
import { SamplerPool } from '../../engine/sampler-pool.js';
import { createLogprobScratch } from '../../kernels/logprobs.js';
import { runSampleJob, type SampleJob } from '../../kernels/sample-job.js';
import { DEFAULT_SAMPLING } from '../../kernels/sampling-params.js';
import { SeededRandom } from '../../kernels/seeded-random.js';
import { createSamplerScratch } from '../../kernels/token-sampler.js';
import { greedyRequest, startEngine } from '../helpers/engine.js';
import { MHA, REASONERS } from '../helpers/fixtures.js';

/** Every token event of a stream, with its logprobs. */
async function events(stream: AsyncIterable<SequenceEvent>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const e of stream) out.push(e.kind === 'token' ? { id: e.tokenId, lp: e.logprob, top: e.topLogprobs } : e.finishReason);
  return out;
}

// The pool engages from 2 rows and (here) any vocabulary: the fixture's 307 ids stand in for a real one.
describe('sampler pool: a step\'s rows sampled on 2 worker threads equal the engine thread alone', () => {
  let pooled: EngineClient;
  let alone: EngineClient;
  let registries: ReasonerRegistry[];
  const uses = new Map<EngineClient, GenerationRequest['reasoners']>();
  beforeAll(async () => {
    pooled = await startEngine(MHA, { maxBatch: 6, prefillChunk: 4, samplerThreads: 2, samplerMinVocab: 1 });
    alone = await startEngine(MHA, { maxBatch: 1, samplerThreads: 0 });
    registries = [];
    for (const engine of [pooled, alone]) {
      const registry = new ReasonerRegistry(engine, MHA, { ep: 'cpu', deviceId: 0, threads: 1 });
      await registry.load(join(REASONERS, 'r1'));
      uses.set(engine, registry.acquire([{ name: 'r1', weight: 0.7 }]).uses);
      registries.push(registry);
    }
  });
  afterAll(async () => {
    for (const r of registries) await r.close();
    await Promise.all([pooled.close(), alone.close()]);
  });

  const requests = (engine: EngineClient): GenerationRequest[] => [
    greedyRequest([5, 17, 42], 12, { logprobs: 3 }),
    greedyRequest([9, 9, 8, 7, 100, 3], 12, { sampling: { ...DEFAULT_SAMPLING, temperature: 0.9, topP: 0.9 }, seed: 11n, logprobs: 5 }),
    greedyRequest([1, 2], 12, { sampling: { ...DEFAULT_SAMPLING, topK: 20, minP: 0.05 }, seed: 12n }),
    greedyRequest([30, 31, 32, 33, 34], 12, { sampling: { ...DEFAULT_SAMPLING, temperature: 1.3, repetitionPenalty: 1.2, presencePenalty: 0.5 }, seed: 13n, logprobs: 0 }),
    greedyRequest([200, 150], 12, { sampling: { ...DEFAULT_SAMPLING, logitBias: new Map([[5, 3], [7, -100]]) }, seed: 14n, reasoners: uses.get(engine)! }),
    greedyRequest([77], 12, { sampling: { ...DEFAULT_SAMPLING, temperature: 0.7, topP: 0.8, minP: 0.1 }, seed: 15n, logprobs: 2, reasoners: uses.get(engine)! }),
  ];

  it('batched with joins and leaves on the pool: the tokens of one by one, logprobs within batched float rounding', async () => {
    const batched = await Promise.all(requests(pooled).map((r) => events(pooled.submit(r))));
    expect((await pooled.stats()).sampledOffThread).toBeGreaterThan(20);
    for (const [i, r] of requests(alone).entries()) {
      const single = await events(alone.submit(r));
      expect(single.length).toBe(13);
      single.forEach((e, j) => {
        const b = batched[i][j] as { id: number; lp?: number; top?: { id: number; logprob: number }[] };
        if (typeof e !== 'object') return expect(b).toBe(e);
        const s1 = e as typeof b;
        expect(b.id).toBe(s1.id);
        if (s1.lp !== undefined) expect(Math.abs(b.lp! - s1.lp)).toBeLessThan(1e-4);
        expect(b.top?.map((t) => t.id)).toEqual(s1.top?.map((t) => t.id));
      });
    }
  });
});

describe('SamplerPool.run', () => {
  it('gives bit for bit what runSampleJob gives on this thread, for every job kind, and survives a worker dying', async () => {
    const vocab = 5000;
    const pool = new SamplerPool(vocab, 2, 1);
    const rng = new SeededRandom(3);
    const kinds: SampleJob[] = [
      { temperature: 0, topK: 0, topP: 1, minP: 0, draw: 0, logprobs: 5 },
      { temperature: 1, topK: 0, topP: 1, minP: 0, draw: 0.3, logprobs: null },
      { temperature: 0.7, topK: 0, topP: 0.9, minP: 0, draw: 0.9, logprobs: 20 },
      { temperature: 1.2, topK: 40, topP: 0.95, minP: 0.05, draw: 0.5, logprobs: 0 },
      { temperature: 1, topK: 0, topP: 1, minP: 0.1, draw: 0.99, logprobs: null },
      // Greedy without logprobs: stays on the engine thread.
      { temperature: 0, topK: 0, topP: 1, minP: 0, draw: 0, logprobs: null },
    ];
    const jobs = Array.from({ length: 11 }, (_, i) => ({ ...kinds[i % kinds.length], draw: rng.next() }));
    const fill = () => {
      const { rows, raws } = pool.rows(jobs.length);
      rows.forEach((row, i) => {
        for (let j = 0; j < vocab; j++) row[j] = (i % 2 ? 8 : 30) * rng.next();
        if (i === 4) row[17] = NaN;
        raws[i].set(row);
      });
      return { rows, raws };
    };
    const scratch = { sampler: createSamplerScratch(), logprobs: createLogprobScratch() };
    const { rows, raws } = fill();
    const expected = jobs.map((job, i) => runSampleJob(rows[i], job.logprobs !== null ? raws[i] : null, job, scratch));
    expect(expected[4]).toEqual({ nonFinite: 'nan' });
    expect(await pool.run(jobs)).toEqual(expected);
    // 10 rows worth moving: 3 per worker, 4 (and the greedy one) here.
    expect(pool.offThreadRows).toBe(6);
    await pool.close();
    // Closed (or dead) workers: the engine thread does it all, with the same result.
    expect(await pool.run(jobs)).toEqual(expected);
  });
});
