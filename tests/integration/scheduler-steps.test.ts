import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SequenceEvent } from '../../engine/generation-request.js';
import { LocalModelRunner } from '../../engine/model-runner.js';
import { Scheduler } from '../../engine/scheduler.js';
import { loadDecoder, type LoadedDecoder } from '../../models/load-decoder.js';
import { TextTokenizer } from '../../models/text-tokenizer.js';
import { greedyRequest } from '../helpers/engine.js';
import { MHA } from '../helpers/fixtures.js';

/** The step loop driven by hand, in this thread: what happens at each step boundary. */
describe('Scheduler steps', () => {
  let model: LoadedDecoder;
  let events: SequenceEvent[];
  let scheduler: Scheduler;
  beforeAll(async () => {
    model = await loadDecoder(MHA, { ep: 'cpu', deviceId: 0, threads: 1 });
  });
  afterAll(async () => model.runner.session.release());

  const make = (maxBatch: number, prefillChunk: number) => {
    events = [];
    scheduler = new Scheduler(new LocalModelRunner(model.runner), TextTokenizer.load(model.files, model.config), {
      maxBatch, prefillChunk, maxContext: 512, vocab: model.signature.vocabSize,
    }, (e) => events.push(...e));
  };
  const of = (seqId: number) => events.filter((e) => e.seqId === seqId);

  it('a cancel takes effect at the next step: no token after it, done(cancelled), cache released', async () => {
    make(8, 0);
    scheduler.submit(1, greedyRequest([1, 2, 3], 50));
    scheduler.submit(2, greedyRequest([4, 5], 50));
    for (let i = 0; i < 3; i++) await scheduler.step();
    expect(of(1).length).toBe(3);
    expect(model.runner.sequenceCount).toBe(2);
    scheduler.cancel(1);
    await scheduler.step();
    const after = of(1).slice(3);
    expect(after).toEqual([expect.objectContaining({ kind: 'done', finishReason: 'cancelled', completionTokens: 3 })]);
    expect(model.runner.sequenceCount).toBe(1);
    expect(of(2).length).toBe(4);
    scheduler.cancel(2);
    await scheduler.step();
    expect(model.runner.sequenceCount).toBe(0);
  });

  it('max batch bounds the running sequences; the rest wait their turn', async () => {
    make(2, 0);
    for (let id = 1; id <= 3; id++) scheduler.submit(id, greedyRequest([id, id + 1], 2));
    await scheduler.step();
    expect(scheduler.snapshot()).toMatchObject({ running: 2, waiting: 1 });
    expect(of(3)).toEqual([]);
    await scheduler.step();
    // Sequences 1 and 2 finished after their second token; 3 is admitted at the next step.
    expect(of(1).at(-1)).toMatchObject({ kind: 'done', finishReason: 'length' });
    await scheduler.step();
    expect(of(3).length).toBe(1);
  });

  it('a long prompt is prefilled in chunks while a running stream keeps getting a token every step', async () => {
    make(8, 16);
    scheduler.submit(1, greedyRequest([1, 2], 100));
    await scheduler.step();
    const long = Int32Array.from({ length: 100 }, (_, i) => (i * 13) % 250);
    scheduler.submit(2, greedyRequest(long, 5));
    let steps = 0;
    while (of(2).length === 0) {
      const before = of(1).length;
      await scheduler.step();
      expect(of(1).length).toBe(before + 1);
      steps++;
    }
    // 100 prompt tokens in chunks of 16: 7 steps, the last of which also samples the first token.
    expect(steps).toBe(7);
    scheduler.cancel(1);
    scheduler.cancel(2);
    await scheduler.step();
  });
});
