import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonerRegistry } from '../../adapters/reasoner-registry.js';
import type { EngineClient } from '../../engine/engine-client.js';
import type { GenerationRequest, ReasonerUse, SequenceEvent } from '../../engine/generation-request.js';
import { DEFAULT_SAMPLING } from '../../kernels/sampling-params.js';
import { collect, greedyRequest, startEngine, type Collected } from '../helpers/engine.js';
import { FAULTY, MHA, REASONERS } from '../helpers/fixtures.js';
import { describeEachProvider } from '../helpers/providers.js';

const prompts = [
  [5, 17, 42],
  Array.from({ length: 23 }, (_, i) => (i * 7) % 250),
  [100],
  Array.from({ length: 12 }, (_, i) => 30 + i),
  Array.from({ length: 9 }, (_, i) => 200 - i * 3),
  [1, 2],
];

function summary(c: Collected) {
  return { tokens: c.tokens, text: c.text, finish: c.done.finishReason, completion: c.done.completionTokens };
}

/** Base and both modules on each provider (on WebGPU the modules run in the engine thread, the device's owner). */
describeEachProvider('the engine with modules', ({ ep }) => {
  let engine: EngineClient;
  let registry: ReasonerRegistry;
  let uses: Record<string, ReasonerUse[]>;

  beforeAll(async () => {
    // Small chunks and a small batch: prompts are prefilled in pieces between decode steps, and requests queue.
    engine = await startEngine(MHA, { maxBatch: 4, prefillChunk: 5, ep });
    registry = new ReasonerRegistry(engine, MHA, { ep, deviceId: 0, threads: 1 });
    expect(registry.placement).toBe(ep === 'webgpu' ? 'engine-thread' : 'own-worker');
    await registry.load(join(REASONERS, 'r1'));
    await registry.load(join(REASONERS, 'r2'));
    const lease = (names: [string, number][]) => registry.acquire(names.map(([name, weight]) => ({ name, weight }))).uses;
    uses = { none: [], r1: lease([['r1', 1]]), r2: lease([['r2', 1]]), both: lease([['r1', 1], ['r2', 0.5]]) };
  });
  afterAll(async () => {
    await registry.close();
    await engine.close();
  });

  /** Greedy and seeded sampling, several module sets, different lengths: the batch must not change any output. */
  function requests(): GenerationRequest[] {
    const sets = ['none', 'r1', 'both', 'r2', 'none', 'r1'];
    return prompts.map((p, i) => {
      const sampled = i % 2 === 1;
      return greedyRequest(p, 10 + 3 * i, {
        reasoners: uses[sets[i]],
        ...(sampled ? { sampling: { ...DEFAULT_SAMPLING, temperature: 0.9, topP: 0.95, topK: 40 }, seed: BigInt(1000 + i) } : {}),
        logprobs: 2,
      });
    });
  }

  describe('continuous batching is exact', () => {
    it('outputs equal the same requests run alone, with staggered joins and leaves', async () => {
      const alone: ReturnType<typeof summary>[] = [];
      for (const r of requests()) alone.push(summary(await collect(engine.submit(r))));

      // Requests join while others run: each waits for a couple of tokens of the previous one.
      const running: Promise<Collected>[] = [];
      for (const r of requests()) {
        const events = engine.submit(r);
        const it = events[Symbol.asyncIterator]();
        const first = await it.next();
        running.push(
          (async () => {
            const rest: AsyncIterable<never> = { [Symbol.asyncIterator]: () => it as never };
            const tail = await collect(rest);
            const head = first.value;
            return head.kind === 'token' ? { ...tail, tokens: [head.tokenId, ...tail.tokens], text: head.text + tail.text } : tail;
          })(),
        );
      }
      const batched = (await Promise.all(running)).map(summary);
      expect(batched).toEqual(alone);
      const stats = await engine.stats();
      expect(stats.relayouts).toBeGreaterThan(0);
      // On a device the cache is laid out again there, by the gather graph, and never comes to the host.
      const t = stats.baseTensors!;
      if (ep === 'cpu') expect(t).toMatchObject({ graphGathers: 0, deviceCreated: 0 });
      else {
        expect(t.hostGathers).toBe(0);
        expect(t.graphGathers).toBeGreaterThan(0);
        expect(t.deviceCreated).toBeGreaterThan(0); // every present output; only the empty pasts of prefills are host tensors
      }
    });

    it('logprobs agree batched and alone (same tokens; values within float rounding of the padded batch)', async () => {
      const r = requests()[3];
      const alone = await collectWithLogprobs(engine.submit(r));
      const others = requests().slice(0, 3).map((x) => collect(engine.submit(x)));
      const batched = await collectWithLogprobs(engine.submit(r));
      await Promise.all(others);
      expect(batched.map((t) => t.id)).toEqual(alone.map((t) => t.id));
      batched.forEach((t, i) => expect(Math.abs(t.lp! - alone[i].lp!)).toBeLessThan(1e-4));
    });
  });

  describe('cancellation', () => {
    it('a cancelled sequence ends as cancelled, its cache is released, and the others go on', async () => {
      const controller = new AbortController();
      const long = engine.submit(greedyRequest([1, 2, 3], 400), controller.signal);
      const other = collect(engine.submit(greedyRequest([4, 5, 6], 40)));
      let received = 0;
      let done: Collected['done'] | null = null;
      for await (const e of long) {
        if (e.kind === 'token') {
          received++;
          controller.abort();
        } else done = e;
      }
      expect(done?.finishReason).toBe('cancelled');
      expect(done?.completionTokens).toBe(received);
      expect(received).toBeLessThan(400);
      expect((await other).done.finishReason).toBe('length');
      const stats = await engine.stats();
      expect(stats.cachedSequences).toBe(0);
      expect(stats.running + stats.prefilling + stats.waiting).toBe(0);
      expect(stats.baseTensors).toMatchObject({ live: 0, deviceLive: 0 });
    });

    it('a request cancelled while waiting never runs', async () => {
      const fill = Array.from({ length: 4 }, () => collect(engine.submit(greedyRequest([7, 8], 30))));
      const controller = new AbortController();
      const waiting = engine.submit(greedyRequest([9, 9], 30), controller.signal);
      controller.abort();
      const res = await collect(waiting);
      expect(res.done.finishReason).toBe('cancelled');
      expect(res.tokens).toEqual([]);
      await Promise.all(fill);
    });
  });
});

/** A module whose every run fails in ONNX Runtime, beside the base and a working module on each provider. */
describeEachProvider('a module failing at run time', ({ ep }) => {
  let engine: EngineClient;
  let registry: ReasonerRegistry;
  beforeAll(async () => {
    engine = await startEngine(MHA, { ep });
    registry = new ReasonerRegistry(engine, MHA, { ep, deviceId: 0, threads: 1 });
    await registry.load(join(FAULTY, 'r-fails'));
    await registry.load(join(REASONERS, 'r1'));
  });
  afterAll(async () => {
    await registry.close();
    await engine.close();
  });

  it('fails only the sequences that use it, with reasoner_failed naming the module', async () => {
    const use = (name: string) => registry.acquire([{ name }]).uses;
    const [failing, fine, plain] = await Promise.all([
      collect(engine.submit(greedyRequest([5, 17, 42], 8, { reasoners: use('r-fails') }))),
      collect(engine.submit(greedyRequest([5, 17, 42], 8, { reasoners: use('r1') }))),
      collect(engine.submit(greedyRequest([5, 17, 42], 8))),
    ]);
    expect(failing.done).toMatchObject({ finishReason: 'error', error: { code: 'reasoner_failed', message: 'reasoning module r-fails failed at run time' } });
    expect(fine.done.finishReason).toBe('length');
    expect(plain.done.finishReason).toBe('length');
  });
});

async function collectWithLogprobs(events: AsyncIterable<SequenceEvent>) {
  const out: { id: number; lp?: number; top?: unknown }[] = [];
  for await (const e of events) for (const t of e.returnedTokens ?? []) out.push({ id: t.tokenId, lp: t.logprob, top: t.topLogprobs });
  return out;
}

describe('queue bound', () => {
  it('refuses beyond max batch + max queue with queue_full', async () => {
    const small = await startEngine(MHA, { maxBatch: 1, maxQueue: 1 });
    try {
      small.reserve(2);
      const a = collect(small.submit(greedyRequest([1], 20)));
      const b = collect(small.submit(greedyRequest([2], 20)));
      expect(() => small.reserve(1)).toThrow(/capacity/);
      await Promise.all([a, b]);
      expect(() => small.reserve(1)).not.toThrow();
    } finally {
      await small.close();
    }
  });
});
