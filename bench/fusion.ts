/**
 * Issue 3's benchmark: per-token time of the base alone, base + 1 and base + 2 modules (demo models, batch 1,
 * greedy, 128 new tokens) through the engine, against a minimal hand-written loop that runs the same ONNX
 * sessions one after another in one thread and fuses with a plain loop: the models themselves and nothing
 * else. Overhead beyond the models = engine time / hand-written time - 1, from rounds alternated in one run.
 * Also the fusion kernel alone at vocabulary sizes 32k and 152k.
 *
 *   npx tsx bench/fusion.ts [--tokens 128] [--rounds 9]
 */
import ort from 'onnxruntime-node';
import { ReasonerRegistry } from '../adapters/reasoner-registry.js';
import { EngineClient } from '../engine/engine-client.js';
import type { ReasonerUse } from '../engine/generation-request.js';
import { fuseLogits } from '../kernels/fuse-logits.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import { locateModelFiles } from '../models/model-files.js';
import { readModelConfig } from '../models/model-config.js';
import { benchArgs, DEMO_BASE, DEMO_MODULES, median, table } from './bench-args.js';

const args = benchArgs({ tokens: { type: 'string', default: '128' }, rounds: { type: 'string', default: '9' } });
const tokens = Number(args.tokens);
const prompt = Int32Array.from({ length: 16 }, (_, i) => 48 + (i % 10));

interface HandModel {
  session: ort.InferenceSession;
  cfg: ReturnType<typeof readModelConfig>;
}

async function handModel(dir: string): Promise<HandModel> {
  const files = locateModelFiles(dir);
  const session = await ort.InferenceSession.create(files.onnx, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  return { session, cfg: readModelConfig(files) };
}

/** Every model with its own KV cache, run in turn; z = z_base + sum z_i; argmax. */
async function handLoop(models: HandModel[]): Promise<number> {
  const pasts = models.map(({ cfg }) => {
    const past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < cfg.numLayers; l++) {
      for (const k of ['key', 'value']) past[`past_key_values.${l}.${k}`] = new ort.Tensor('float32', new Float32Array(0), [1, cfg.numKvHeads, 0, cfg.headDim]);
    }
    return past;
  });
  let ids = Array.from(prompt);
  let total = ids.length;
  const t0 = performance.now();
  for (let step = 0; step < tokens; step++) {
    let fused: Float32Array | null = null;
    for (let m = 0; m < models.length; m++) {
      const { session, cfg } = models[m];
      const out = await session.run({
        ...pasts[m],
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(total - ids.length + i)), [1, ids.length]),
        num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(1n), []),
      });
      const row = out.logits.data as Float32Array;
      if (!fused) fused = Float32Array.from(row);
      else for (let i = 0; i < fused.length; i++) fused[i] += row[i];
      for (let l = 0; l < cfg.numLayers; l++) {
        pasts[m][`past_key_values.${l}.key`] = out[`present.${l}.key`];
        pasts[m][`past_key_values.${l}.value`] = out[`present.${l}.value`];
      }
    }
    let best = 0;
    for (let i = 1; i < fused!.length; i++) if (fused![i] > fused![best]) best = i;
    ids = [best];
    total++;
  }
  return (performance.now() - t0) / tokens;
}

async function engineLoop(engine: EngineClient, reasoners: ReasonerUse[]): Promise<number> {
  const t0 = performance.now();
  for await (const e of engine.submit({ promptIds: prompt, maxTokens: tokens, minTokens: 0, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: null, stop: [], stopTokenIds: [], ignoreEos: true, logprobs: null, reasoners })) void e;
  return (performance.now() - t0) / tokens;
}

const base = locateModelFiles(DEMO_BASE).dir;
const engine = await EngineClient.start({ baseDir: base, session: { ep: 'cpu', deviceId: 0, threads: 1 }, maxBatch: 4, maxQueue: 4, prefillChunk: 0, maxContext: 4096 });
const registry = new ReasonerRegistry(engine, base, { ep: 'cpu', deviceId: 0, threads: 1 });
const names: string[] = [];
for (const dir of DEMO_MODULES) names.push((await registry.load(dir)).name);
const hand = [await handModel(base), ...(await Promise.all(DEMO_MODULES.map(handModel)))];

const rows: (string | number)[][] = [];
for (let k = 0; k <= 2; k++) {
  const uses = k === 0 ? [] : registry.acquire(names.slice(0, k).map((name) => ({ name }))).uses;
  const models = hand.slice(0, k + 1);
  await handLoop(models);
  await engineLoop(engine, uses);
  const h: number[] = [];
  const e: number[] = [];
  for (let r = 0; r < Number(args.rounds); r++) {
    h.push(await handLoop(models));
    e.push(await engineLoop(engine, uses));
  }
  const paired = e.map((x, i) => x / h[i] - 1);
  rows.push([['base alone', `base + ${names[0]}`, `base + ${names.join(' + ')}`][k], median(h), median(e), `${(100 * median(paired)).toFixed(1)}%`]);
}
await registry.close();
await engine.close();
for (const m of hand) await m.session.release();
console.log(`demo base ${base}, modules ${names.join(', ')}; batch 1, greedy, ${tokens} tokens, each session 1 intra-op thread; median of ${args.rounds} alternated rounds`);
console.log(table(['models', 'hand-written loop ms/token', 'engine ms/token', 'engine overhead beyond the models'], rows));

/** The fusion kernel alone: z = z_base + sum w_i z_i over one row. */
const kernelRows: (string | number)[][] = [];
for (const vocab of [32_000, 152_064]) {
  const rowOf = () => Float32Array.from({ length: vocab }, () => Math.random() * 10 - 5);
  const z = rowOf();
  const mods = [rowOf(), rowOf()];
  const out = new Float32Array(vocab);
  for (const k of [1, 2]) {
    const terms = mods.slice(0, k).map((row) => ({ row, weight: 0.7 }));
    for (let i = 0; i < 200; i++) fuseLogits(out, z, terms);
    const n = 2000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fuseLogits(out, z, terms);
    kernelRows.push([String(vocab), String(k), ((performance.now() - t0) / n) * 1000]);
  }
}
console.log('\nFusion kernel alone (one row, per token):');
console.log(table(['vocabulary', 'modules', 'µs per token'], kernelRows));
