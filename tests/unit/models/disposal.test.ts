import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecoderRunner, type KvGatherMode } from '../../../models/decoder-runner.js';
import { TensorLedger } from '../../../models/kv-layout.js';
import { loadDecoder, type LoadedDecoder } from '../../../models/load-decoder.js';
import { rng } from '../../helpers/random.js';
import { KV_ECHO } from '../../helpers/fixtures.js';
import { describeEachProvider } from '../../helpers/providers.js';

/** A decoder-shaped graph of a few kernels (training/make_kv_echo_fixture.py): 10,000 steps stay cheap on a software GPU. */
const MODEL = KV_ECHO;


describe('TensorLedger', () => {
  const tensor = () => new ort.Tensor('float32', new Float32Array(4), [1, 1, 1, 4]);

  it('counts adopted and disposed tensors and the live ones', () => {
    const ledger = new TensorLedger();
    const a = ledger.adopt(tensor());
    const b = ledger.adopt(tensor());
    expect(ledger.snapshot()).toMatchObject({ created: 2, disposed: 0, live: 2, deviceCreated: 0, deviceLive: 0 });
    ledger.dispose(a);
    expect(ledger.snapshot()).toMatchObject({ created: 2, disposed: 1, live: 1 });
    ledger.dispose(b);
    expect(ledger.snapshot()).toMatchObject({ created: 2, disposed: 2, live: 0 });
  });

  it('refuses to dispose a tensor twice, or one it does not own, or to adopt one twice', () => {
    const ledger = new TensorLedger();
    const a = ledger.adopt(tensor());
    ledger.dispose(a);
    expect(() => ledger.dispose(a)).toThrow(/disposed twice/);
    expect(() => ledger.dispose(tensor())).toThrow(/not owned/);
    const b = ledger.adopt(tensor());
    expect(() => ledger.adopt(b)).toThrow(/adopted twice/);
    expect(ledger.snapshot()).toMatchObject({ created: 2, disposed: 1, live: 1 });
  });
});

/**
 * Drives a runner as the step loop does: a new sequence prefills in its own run, running ones decode
 * together, and each leaves after a random number of tokens. `runs()` can be called again and goes on
 * with the same sequences; it returns the live counts seen after each run.
 */
class Driver {
  private readonly next: () => number;
  private readonly left = new Map<number, number>();
  private nextId = 1;
  decodeRuns = 0;

  constructor(
    private readonly runner: DecoderRunner,
    seed: number,
    private readonly maxLive = 4,
  ) {
    this.next = rng(seed);
  }

  async runs(count: number): Promise<{ live: number[]; layouts: number[] }> {
    const { next, left, runner } = this;
    const live: number[] = [];
    const layouts: number[] = [];
    for (let i = 0; i < count; i++) {
      if (left.size < this.maxLive && (left.size === 0 || next() < 0.05)) {
        const id = this.nextId++;
        left.set(id, 5 + Math.floor(next() * 120));
        await runner.run([{ seqId: id, tokens: Int32Array.from({ length: 1 + Math.floor(next() * 6) }, () => Math.floor(next() * 300)) }]);
      } else {
        const ids = [...left.keys()];
        await runner.run(ids.map((seqId) => ({ seqId, tokens: Int32Array.of(Math.floor(next() * 300)) })));
        this.decodeRuns++;
        for (const id of ids) {
          const n = left.get(id)! - 1;
          if (n > 0) left.set(id, n);
          else {
            left.delete(id);
            runner.release(id);
            runner.release(id); // a second release of the same sequence is a no-op, never a second dispose
          }
        }
      }
      live.push(runner.tensorStats.live);
      layouts.push(runner.tensorStats.liveLayouts);
    }
    return { live, layouts };
  }
}

/** On every provider: with WebGPU the cache lives on the device and re-layouts run there (device tensors counted). */
describeEachProvider('the runner disposes every KV tensor it owns exactly once', ({ ep }) => {
  let model: LoadedDecoder;
  const perLayout = () => 2 * model.signature.numLayers;
  beforeAll(async () => {
    model = await loadDecoder(MODEL, { ep, deviceId: 0, threads: 1 });
  });
  afterAll(async () => model.runner.session.release());

  // Device tensors never come to the host, so a WebGPU cache is always laid out again by the graph.
  const modes: KvGatherMode[] = ep === 'cpu' ? ['host', 'graph'] : ['auto'];
  it.each(modes)('sequences joining and leaving (%s re-layout): nothing is left once all are released', async (mode) => {
    const runner = new DecoderRunner(model.runner.session, model.signature, { kvGather: mode });
    await new Driver(runner, 3).runs(400);
    const mid = runner.tensorStats;
    expect(mid.created).toBeGreaterThan(mid.live);
    expect(mid[mode === 'host' ? 'hostGathers' : 'graphGathers']).toBeGreaterThan(5);
    if (ep !== 'cpu') expect(mid.hostGathers).toBe(0);
    runner.releaseAll();
    const end = runner.tensorStats;
    expect(end.live).toBe(0);
    expect(end.liveLayouts).toBe(0);
    expect(end.disposed).toBe(end.created);
    expect(end.deviceDisposed).toBe(end.deviceCreated);
    expect(runner.sequenceCount).toBe(0);
    await runner.dispose();
  });

  it('10,000 decode steps: live tensors stay bounded (no growth with steps), then return to zero', async () => {
    const runner = new DecoderRunner(model.runner.session, model.signature);
    const driver = new Driver(runner, 11);
    const steps = 10_000;
    const windows: number[] = [];
    // Every decode run takes all live sequences into one layout; each prefill since then adds one (4 at most).
    const bound = perLayout() * 5;
    while (driver.decodeRuns < steps) {
      const r = await driver.runs(1000);
      windows.push(Math.max(...r.live));
      expect(Math.max(...r.layouts)).toBeLessThanOrEqual(5);
    }
    expect(Math.max(...windows)).toBeLessThanOrEqual(bound);
    // The last windows hold no more than the first ones did: what a step creates, a later step disposes.
    expect(Math.max(...windows.slice(-3))).toBeLessThanOrEqual(Math.max(...windows.slice(0, 3)));
    const mid = runner.tensorStats;
    expect(mid.created).toBeGreaterThanOrEqual(perLayout() * steps);
    expect(mid.created - mid.disposed).toBe(mid.live);
    if (ep !== 'cpu') {
      // The present outputs of every decode run are device tensors, and the device ones are disposed as they go.
      expect(mid.deviceCreated).toBeGreaterThanOrEqual(perLayout() * steps);
      expect(mid.deviceCreated - mid.deviceDisposed).toBe(mid.deviceLive);
      expect(mid.deviceLive).toBeLessThanOrEqual(bound);
    }
    runner.releaseAll();
    expect(runner.tensorStats).toMatchObject({ live: 0, liveLayouts: 0, deviceLive: 0 });
    expect(runner.tensorStats.disposed).toBe(mid.created);
    expect(runner.tensorStats.deviceDisposed).toBe(mid.deviceCreated);
    await runner.dispose();
  }, 300_000);
});
