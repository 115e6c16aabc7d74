import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonerRegistry } from '../../adapters/reasoner-registry.js';
import type { EngineClient } from '../../engine/engine-client.js';
import type { GenerationRequest, ReasonerUse, SequenceEvent } from '../../engine/generation-request.js';
import { DEFAULT_SAMPLING } from '../../kernels/sampling-params.js';
import { greedyRequest, startEngine } from '../helpers/engine.js';
import { FIXTURES, MHA, REASONERS } from '../helpers/fixtures.js';

let engine: EngineClient;
let registry: ReasonerRegistry;
let both: ReasonerUse[];

beforeAll(async () => {
  // Module workers as served; small prefill chunks, so prompts and catch-up runs come in pieces; rows sampled on
  // sampler workers (the fixture's vocabulary is below the pool's default minimum).
  engine = await startEngine(MHA, { maxBatch: 4, prefillChunk: 5, samplerThreads: 2, samplerMinVocab: 1 });
  registry = new ReasonerRegistry(engine, MHA, { ep: 'cpu', deviceId: 0, threads: 1 });
  await registry.load(join(REASONERS, 'r1'));
  await registry.load(join(REASONERS, 'r2'));
  await registry.load(join(FIXTURES, 'faulty', 'r-fails'));
  both = registry.acquire([{ name: 'r1', weight: 1 }, { name: 'r2', weight: 0.5 }]).uses;
});
afterAll(async () => {
  await registry.close();
  await engine.close();
});

async function run(events: AsyncIterable<SequenceEvent>) {
  const tokens: number[] = [];
  const logprobs: number[] = [];
  for await (const e of events) {
    if (e.kind === 'token') {
      tokens.push(e.tokenId);
      for (const t of e.returnedTokens ?? []) logprobs.push(t.logprob!);
    } else {
      for (const t of e.returnedTokens ?? []) logprobs.push(t.logprob!);
      return { tokens, logprobs, gate: e.gate, finish: e.finishReason, error: e.error };
    }
  }
  throw new Error('no done event');
}

describe('entropy gate under continuous batching', () => {
  it('a batch of requests with mixed thresholds gives each the output it gets alone', async () => {
    // Thresholds from the base's entropies along an ungated output, so some steps open and some close.
    const probe: number[] = [];
    for await (const e of engine.submit(greedyRequest([3, 1, 4, 1, 5], 30, { reasoners: both, attribution: true }))) {
      if (e.kind === 'token') probe.push(e.attribution!.baseEntropy);
    }
    probe.sort((a, b) => a - b);
    const q = (f: number) => probe[Math.floor(f * (probe.length - 1))];
    // Ungated requests after gated ones in the batch: their module rows must not be shifted by the gated ones.
    const gates = [q(0.3), q(0.6), null, 0, null, q(0.9), 100, q(0.5)];
    const prompts = [[5, 17, 42], Array.from({ length: 23 }, (_, i) => (i * 7) % 250), [100], Array.from({ length: 12 }, (_, i) => 30 + i), [9, 8, 7, 6, 5, 4, 3], [1, 2], [250, 251, 252], [60, 61, 62, 63]];
    const requests = (): GenerationRequest[] =>
      prompts.map((p, i) =>
        greedyRequest(p, 12 + 3 * i, {
          reasoners: both,
          reasonerGate: gates[i] === null ? null : { entropy: gates[i]! },
          logprobs: 0,
          ...(i % 2 === 1 ? { sampling: { ...DEFAULT_SAMPLING, temperature: 0.9, topP: 0.95, topK: 40 }, seed: BigInt(500 + i) } : {}),
        }),
      );
    const alone: Awaited<ReturnType<typeof run>>[] = [];
    for (const r of requests()) alone.push(await run(engine.submit(r)));
    const batched = await Promise.all(requests().map((r) => run(engine.submit(r))));
    expect(batched.map((b) => b.tokens)).toEqual(alone.map((a) => a.tokens));
    expect(batched.map((b) => b.gate)).toEqual(alone.map((a) => a.gate));
    expect(alone.every((a) => a.logprobs.length > 0)).toBe(true);
    batched.forEach((b, i) => b.logprobs.forEach((lp, j) => expect(Math.abs(lp - alone[i].logprobs[j])).toBeLessThan(1e-4)));
    // The mix is real: some gated requests skipped steps, some ran all, the threshold of 100 skipped every one.
    const skipped = alone.map((a) => (a.gate ? a.gate.skipped / a.gate.moduleSteps : null));
    expect(skipped[2]).toBeNull();
    expect(skipped[4]).toBeNull();
    expect(skipped[3]).toBe(0);
    expect(skipped.filter((s) => s !== null && s > 0 && s < 1).length).toBeGreaterThanOrEqual(3);
    expect(skipped[6]).toBe(1);
    const stats = await engine.stats();
    expect(stats.cachedSequences).toBe(0);
    expect(stats.gateMs).toBeGreaterThan(0);
    expect(stats.sampledOffThread).toBeGreaterThan(0);
  });
});

describe('a gated module that fails', () => {
  it('fails only the sequences whose gate opened on it; the others, and the engine, go on', async () => {
    const failing = registry.acquire([{ name: 'r-fails' }]).uses;
    const request = (reasoners: ReasonerUse[]) => greedyRequest([5, 6, 7], 12, { reasoners, reasonerGate: { entropy: 1e-6 } });
    const alone = await run(engine.submit(request(both)));
    const [bad, good] = await Promise.all([run(engine.submit(request(failing))), run(engine.submit(request(both)))]);
    expect(bad.finish).toBe('error');
    expect(bad.error).toMatchObject({ code: 'reasoner_failed', message: expect.stringMatching(/r-fails/) });
    expect(good).toEqual(alone);
    const again = await run(engine.submit(request(both)));
    expect(again).toEqual(alone);
    expect((await engine.stats()).cachedSequences).toBe(0);
  });
});
