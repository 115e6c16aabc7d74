import ort from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineClient } from '../../../engine/engine-client.js';
import { DecoderRunner, type RunLogits } from '../../../models/decoder-runner.js';
import type { DecoderSignature, KvAlignment, KvDtype } from '../../../models/decoder-signature.js';
import { halfBits } from '../../../models/float16.js';
import { KvGatherGraph } from '../../../models/kv-gather-graph.js';
import { gatherKv, TensorLedger, type KvLayout, type KvRowSource } from '../../../models/kv-layout.js';
import { loadDecoder, type LoadedDecoder } from '../../../models/load-decoder.js';
import { collect, greedyRequest, startEngine } from '../../helpers/engine.js';
import { rng } from '../../helpers/random.js';
import { GQA, MHA, references } from '../../helpers/fixtures.js';


const HEADS = 3;
const DIM = 4;
const LAYERS = 2;

function signature(kvDtype: KvDtype, kvAlignment: KvAlignment = 'right'): DecoderSignature {
  return {
    inputIdsType: 'int64',
    hasPositionIds: false,
    logitsToKeepInput: null,
    pastKeyNames: Array.from({ length: LAYERS }, (_, i) => `past_key_values.${i}.key`),
    pastValueNames: Array.from({ length: LAYERS }, (_, i) => `past_key_values.${i}.value`),
    presentKeyNames: Array.from({ length: LAYERS }, (_, i) => `present.${i}.key`),
    presentValueNames: Array.from({ length: LAYERS }, (_, i) => `present.${i}.value`),
    kvDtype,
    numLayers: LAYERS,
    numKvHeads: HEADS,
    headDim: DIM,
    vocabSize: 8,
    kvAlignment,
  };
}

/** A layout whose every column holds values, padding included, so a gather that forgot to zero it shows. */
function randomLayout(sig: DecoderSignature, lengths: number[], width: number, next: () => number, ledger: TensorLedger): KvLayout {
  const size = lengths.length * HEADS * width * DIM;
  const make = (): Tensor => {
    // float16: finite halves only (exponent below all-ones), so every path copies the same bits.
    const data = sig.kvDtype === 'float16'
      ? Uint16Array.from({ length: size }, () => ((next() < 0.5 ? 0x8000 : 0) | (Math.floor(next() * 30) << 10) | Math.floor(next() * 1024)))
      : Float32Array.from({ length: size }, () => next() * 20 - 10);
    return ledger.adopt(new ort.Tensor(sig.kvDtype, data, [lengths.length, HEADS, width, DIM]));
  };
  return {
    seqIds: lengths.map((_, i) => i),
    lengths,
    width,
    keys: sig.pastKeyNames.map(make),
    values: sig.pastValueNames.map(make),
    refs: lengths.length,
  };
}

function bits(t: Tensor): Uint8Array {
  const d = t.data as ArrayBufferView;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

const GRAPH_CASES = [
  ['float32', 'right'],
  ['float16', 'right'],
  ['float32', 'left'],
  ['float16', 'left'],
] as const;

describe.each(GRAPH_CASES)('the device gather graph (%s KV, %s-aligned) on the CPU', (dtype, alignment) => {
  const sig = signature(dtype, alignment);
  let graph: KvGatherGraph;
  beforeAll(async () => {
    graph = await KvGatherGraph.create(dtype, 'cpu', alignment);
  });
  afterAll(async () => graph.release());

  const cases = [
    { name: 'rows of three layouts and a new row, at the longest row\'s width', extra: 0 },
    { name: 'a target wider than every source', extra: 5 },
    { name: 'a target narrower than a source (its padding columns are cut)', extra: -1 },
  ];
  it.each(cases)('gives the typed-array copy\'s bytes: $name', async ({ extra }) => {
    const next = rng(extra + (dtype === 'float16' ? 100 : 7));
    const ledger = new TensorLedger();
    const a = randomLayout(sig, [5, 2, 7], 9, next, ledger);
    const b = randomLayout(sig, [3], 3, next, ledger);
    const c = randomLayout(sig, [1, 6], 12, next, ledger);
    const sources: KvRowSource[] = [
      { layout: c, row: 1 },
      { layout: a, row: 2 },
      { layout: null, row: 0 },
      { layout: b, row: 0 },
      { layout: a, row: 0 },
      { layout: c, row: 0 },
    ];
    const longest = 7;
    // extra -1: width 8 is below c's width 12 and a's 9 but still holds every row's real positions.
    const width = extra < 0 ? longest + 1 : longest + extra;
    const host = gatherKv(sig, sources, width, ledger);
    const before = ledger.snapshot();
    const dev = await graph.gather(sig, sources, width, ledger);
    const after = ledger.snapshot();
    for (let i = 0; i < LAYERS; i++) {
      for (const [h, d] of [[host.keys[i], dev.keys[i]], [host.values[i], dev.values[i]]]) {
        expect(d.dims).toEqual([sources.length, HEADS, width, DIM]);
        expect(d.type).toBe(dtype);
        expect(Buffer.from(bits(d)).equals(Buffer.from(bits(h)))).toBe(true);
      }
    }
    // Independent of gatherKv: row 0 (c's row 1, length 6) holds c's last 6 columns at its end (right-aligned) or its
    // first 6 at its start (left-aligned); its other columns are zero.
    // float16 as bits: on Node 24 ORT's data is a Float16Array, or (once fed) a Uint16Array view of it.
    const values = (t: Tensor) => (dtype === 'float16' ? halfBits(t.data as ArrayBufferView) : (t.data as Float32Array));
    const k0 = values(dev.keys[0]);
    const src = values(c.keys[0]);
    const rowLen = width * DIM;
    const real = alignment === 'right' ? [(width - 6) * DIM, rowLen] : [0, 6 * DIM];
    const from = (1 * HEADS * 12 + (alignment === 'right' ? 6 : 0)) * DIM;
    expect(Array.from(k0.subarray(real[0], real[1]))).toEqual(Array.from(src.subarray(from, from + 6 * DIM)));
    const padding = alignment === 'right' ? k0.subarray(0, (width - 6) * DIM) : k0.subarray(6 * DIM, rowLen);
    expect(Array.from(padding).every((v) => v === 0)).toBe(true);
    // Three source layouts: three runs per layer tensor, the two intermediate outputs disposed at once.
    expect(after.created - before.created).toBe(3 * 2 * LAYERS);
    expect(after.disposed - before.disposed).toBe(2 * 2 * LAYERS);
    expect(after.live - before.live).toBe(2 * LAYERS);
  });

  it('refuses a gather with no row that has a cache', async () => {
    await expect(graph.gather(sig, [{ layout: null, row: 0 }], 3, new TensorLedger())).rejects.toThrow(/at least one row/);
  });
});

/** A fixed schedule of joins, decode steps and leaves, run on a runner; returns every run's logits. */
async function schedule(runner: DecoderRunner, seed: number, runs: number): Promise<RunLogits[]> {
  const next = rng(seed);
  const live = new Map<number, number>(); // seqId -> steps left
  let nextId = 1;
  const out: RunLogits[] = [];
  for (let step = 0; step < runs; step++) {
    if (live.size < 4 && (live.size === 0 || next() < 0.3)) {
      const joining = 1 + Math.floor(next() * 2);
      const rows = Array.from({ length: joining }, () => {
        const id = nextId++;
        live.set(id, 2 + Math.floor(next() * 10));
        return { seqId: id, tokens: Int32Array.from({ length: 1 + Math.floor(next() * 5) }, () => Math.floor(next() * 300)) };
      });
      out.push(await runner.run(rows));
      continue;
    }
    const ids = [...live.keys()].filter(() => next() < 0.9);
    if (ids.length === 0) continue;
    out.push(await runner.run(ids.map((seqId) => ({ seqId, tokens: Int32Array.of(Math.floor(next() * 300)) }))));
    for (const id of ids) {
      const left = live.get(id)! - 1;
      if (left === 0) {
        live.delete(id);
        runner.release(id);
      } else live.set(id, left);
    }
  }
  return out;
}

describe.each([
  { name: 'tiny-mha-f32', dir: MHA },
  { name: 'tiny-gqa-f16', dir: GQA },
])('a runner with the graph path forced ($name)', ({ dir }) => {
  let model: LoadedDecoder;
  beforeAll(async () => {
    model = await loadDecoder(dir, { ep: 'cpu', deviceId: 0, threads: 1 });
  });
  afterAll(async () => model.runner.session.release());

  it('gives the same logits, bit for bit, as the host copy over joins and leaves', async () => {
    const host = new DecoderRunner(model.runner.session, model.signature, { kvGather: 'host' });
    const graph = new DecoderRunner(model.runner.session, model.signature, { kvGather: 'graph' });
    const a = await schedule(host, 42, 120);
    const b = await schedule(graph, 42, 120);
    expect(b.length).toBe(a.length);
    a.forEach((l, i) => expect(Buffer.from(b[i].data.buffer, b[i].data.byteOffset, b[i].data.byteLength).equals(Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength))).toBe(true));
    expect(host.tensorStats.graphGathers).toBe(0);
    expect(host.tensorStats.hostGathers).toBeGreaterThan(10);
    expect(graph.tensorStats.hostGathers).toBe(0);
    expect(graph.tensorStats.graphGathers).toBe(host.tensorStats.hostGathers);
    await host.dispose();
    await graph.dispose();
    for (const r of [host, graph]) {
      expect(r.tensorStats.live).toBe(0);
      expect(r.tensorStats.created).toBe(r.tensorStats.disposed);
    }
  });

  it('takes its mode from UNIR_KV_GATHER when none is given, and refuses an unknown one', () => {
    const saved = process.env.UNIR_KV_GATHER;
    try {
      process.env.UNIR_KV_GATHER = 'graph';
      expect(new DecoderRunner(model.runner.session, model.signature).kvGather).toBe('graph');
      delete process.env.UNIR_KV_GATHER;
      expect(new DecoderRunner(model.runner.session, model.signature).kvGather).toBe('auto');
      process.env.UNIR_KV_GATHER = 'gpu';
      expect(() => new DecoderRunner(model.runner.session, model.signature)).toThrow(/UNIR_KV_GATHER/);
    } finally {
      if (saved === undefined) delete process.env.UNIR_KV_GATHER;
      else process.env.UNIR_KV_GATHER = saved;
    }
  });
});

describe('the engine with the graph path forced (UNIR_KV_GATHER=graph)', () => {
  let engine: EngineClient;
  beforeAll(async () => {
    const saved = process.env.UNIR_KV_GATHER;
    process.env.UNIR_KV_GATHER = 'graph';
    try {
      // Chunked prefill and staggered lengths: sequences join and leave the batch, so its cache is laid out again.
      engine = await startEngine(MHA, { prefillChunk: 3, maxBatch: 8 });
    } finally {
      if (saved === undefined) delete process.env.UNIR_KV_GATHER;
      else process.env.UNIR_KV_GATHER = saved;
    }
  });
  afterAll(async () => engine.close());

  it('still generates PyTorch\'s greedy tokens while the batch changes', async () => {
    const refs = references.models['tiny-mha-f32'];
    const before = await engine.stats();
    // Prompts of different lengths finish their 3-token prefill chunks at different steps, and different
    // lengths of output leave at different steps: both change the decode batch's rows.
    const jobs = refs.map(async (r, i) => {
      const n = r.greedy_ids.length - 2 * (i % 3);
      return { n, r, res: await collect(engine.submit(greedyRequest(r.prompt_ids, n))) };
    });
    for (const { n, r, res } of await Promise.all(jobs)) expect(res.tokens).toEqual(r.greedy_ids.slice(0, n));
    const after = await engine.stats();
    expect(after.relayouts - before.relayouts).toBeGreaterThan(0);
  });
});
