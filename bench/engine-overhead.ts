/**
 * Issue 2's benchmark: tokens/s of the engine (greedy, 128 new tokens, batch 1) against a minimal
 * hand-written ONNX Runtime decode loop on the same model, in one run, alternating, and their ratio.
 *
 *   npx tsx bench/engine-overhead.ts [--model DIR] [--tokens 128] [--rounds 7] [--threads N]
 */
import ort from 'onnxruntime-node';
import { EngineClient } from '../engine/engine-client.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import { locateModelFiles } from '../models/model-files.js';
import { readModelConfig } from '../models/model-config.js';
import { benchArgs, DEMO_BASE, median, table } from './bench-args.js';

const args = benchArgs({
  model: { type: 'string', default: DEMO_BASE },
  tokens: { type: 'string', default: '128' },
  rounds: { type: 'string', default: '15' },
  threads: { type: 'string', default: '1' },
});
const tokens = Number(args.tokens);
const threads = Number(args.threads);
const prompt = Int32Array.from({ length: 16 }, (_, i) => 32 + ((i * 7) % 90));

/** The loop a user would write by hand: feeds, run, argmax, present → past. No batching, no fusion. */
async function handLoop(session: ort.InferenceSession, cfg: ReturnType<typeof readModelConfig>, kvType: 'float32' | 'float16'): Promise<number> {
  const hasPos = session.inputNames.includes('position_ids');
  const keep = session.inputNames.includes('num_logits_to_keep');
  const past: Record<string, ort.Tensor> = {};
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const k of ['key', 'value']) {
      past[`past_key_values.${l}.${k}`] = new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, cfg.numKvHeads, 0, cfg.headDim]);
    }
  }
  let ids: number[] = Array.from(prompt);
  let total = ids.length;
  const t0 = performance.now();
  for (let step = 0; step < tokens; step++) {
    const feeds: Record<string, ort.Tensor> = {
      ...past,
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    };
    if (hasPos) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(total - ids.length + i)), [1, ids.length]);
    if (keep) feeds.num_logits_to_keep = new ort.Tensor('int64', BigInt64Array.of(1n), []);
    const out = await session.run(feeds);
    const logits = out.logits.data as Float32Array;
    const vocab = out.logits.dims[2];
    const row = logits.subarray(logits.length - vocab);
    let best = 0;
    for (let i = 1; i < vocab; i++) if (row[i] > row[best]) best = i;
    for (let l = 0; l < cfg.numLayers; l++) {
      past[`past_key_values.${l}.key`] = out[`present.${l}.key`];
      past[`past_key_values.${l}.value`] = out[`present.${l}.value`];
    }
    ids = [best];
    total++;
  }
  return (tokens / (performance.now() - t0)) * 1000;
}

async function engineRun(engine: EngineClient): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for await (const e of engine.submit({
    promptIds: prompt, maxTokens: tokens, minTokens: 0, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: null,
    stop: [], stopTokenIds: [], ignoreEos: true, logprobs: null, reasoners: [],
  })) {
    if (e.kind === 'token') n++;
  }
  if (n !== tokens) throw new Error(`engine produced ${n} tokens`);
  return (tokens / (performance.now() - t0)) * 1000;
}

const files = locateModelFiles(args.model!);
const cfg = readModelConfig(files);
const session = await ort.InferenceSession.create(files.onnx, { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const kvType = (session.inputMetadata.find((m) => m.name === 'past_key_values.0.key') as { type: string }).type as 'float32' | 'float16';
const engine = await EngineClient.start({ baseDir: files.dir, session: { ep: 'cpu', deviceId: 0, threads }, maxBatch: 1, maxQueue: 1, prefillChunk: 0, maxContext: cfg.maxPositions });

// Warm-up, then alternate so drift on a noisy machine hits both sides alike.
await handLoop(session, cfg, kvType);
await engineRun(engine);
const hand: number[] = [];
const eng: number[] = [];
for (let r = 0; r < Number(args.rounds); r++) {
  hand.push(await handLoop(session, cfg, kvType));
  eng.push(await engineRun(engine));
}
const stats = await engine.stats();
await engine.close();
await session.release();

console.log(`model ${files.dir}, ${tokens} new tokens, batch 1, greedy, ${threads} intra-op thread(s), ${args.rounds} rounds (median)`);
console.log(table(['loop', 'tokens/s (median)', 'min', 'max'], [
  ['hand-written ORT loop', median(hand), Math.min(...hand), Math.max(...hand)],
  ['unir-serve engine', median(eng), Math.min(...eng), Math.max(...eng)],
]));
const perStep = (ms: number) => ms / stats.steps;
console.log(`engine step breakdown (ms/step): ORT run ${perStep(stats.baseOrtMs).toFixed(3)}, feeds+layout ${perStep(stats.baseLayoutMs).toFixed(3)}, fusion+sampling+text ${perStep(stats.sampleMs).toFixed(3)}, whole step ${perStep(stats.stepMs).toFixed(3)}`);
const paired = eng.map((e, i) => e / hand[i]);
console.log(`ratio engine / hand-written = ${(median(eng) / median(hand)).toFixed(3)} (medians); median of the ${paired.length} paired rounds ${median(paired).toFixed(3)}`);
