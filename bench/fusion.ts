/**
 * Issue 3's benchmark: per-token time of the base alone, base + 1 and base + 2 modules (demo models, batch 1,
 * greedy, through the engine), the step split into model runs and everything else, and the fusion kernel
 * alone at vocabulary sizes 32k and 152k. Models run in parallel (base on the engine thread, each module in
 * its own worker), so "running the models" is the base's run plus the wait for modules after it.
 *
 *   npx tsx bench/fusion.ts [--tokens 128] [--rounds 5]
 */
import { ReasonerRegistry } from '../adapters/reasoner-registry.js';
import { EngineClient } from '../engine/engine-client.js';
import type { ReasonerUse } from '../engine/generation-request.js';
import { fuseLogits } from '../kernels/fuse-logits.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import { locateModelFiles } from '../models/model-files.js';
import { benchArgs, DEMO_BASE, DEMO_MODULES, median, table } from './bench-args.js';

const args = benchArgs({ tokens: { type: 'string', default: '128' }, rounds: { type: 'string', default: '5' }, threads: { type: 'string', default: '1' } });
const tokens = Number(args.tokens);
const base = locateModelFiles(DEMO_BASE).dir;
const engine = await EngineClient.start({ baseDir: base, session: { ep: 'cpu', deviceId: 0, threads: Number(args.threads) }, maxBatch: 4, maxQueue: 4, prefillChunk: 0, maxContext: 4096 });
const registry = new ReasonerRegistry(engine, base, { ep: 'cpu', deviceId: 0, threads: 1 });
const names = [];
for (const dir of DEMO_MODULES) names.push((await registry.load(dir)).name);

async function perToken(reasoners: ReasonerUse[]) {
  const before = await engine.stats();
  const t0 = performance.now();
  const prompt = Int32Array.from({ length: 16 }, (_, i) => 48 + (i % 10));
  for await (const e of engine.submit({ promptIds: prompt, maxTokens: tokens, minTokens: 0, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: null, stop: [], stopTokenIds: [], ignoreEos: true, logprobs: null, reasoners })) void e;
  const wall = performance.now() - t0;
  const after = await engine.stats();
  const steps = after.steps - before.steps;
  const models = after.baseOrtMs - before.baseOrtMs + (after.baseLayoutMs - before.baseLayoutMs) + (after.moduleWaitMs - before.moduleWaitMs);
  const step = after.stepMs - before.stepMs;
  return { msPerToken: wall / tokens, modelsPerStep: models / steps, stepPerStep: step / steps, overhead: (step - models) / step };
}

const configs: [string, ReasonerUse[]][] = [
  ['base alone', []],
  [`base + ${names[0]}`, registry.acquire([{ name: names[0] }]).uses],
  [`base + ${names[0]} + ${names[1]}`, registry.acquire([{ name: names[0] }, { name: names[1] }]).uses],
];
await perToken([]);
const rows = [];
for (const [label, uses] of configs) {
  const runs = [];
  for (let r = 0; r < Number(args.rounds); r++) runs.push(await perToken(uses));
  rows.push([label, median(runs.map((r) => r.msPerToken)), median(runs.map((r) => r.modelsPerStep)), median(runs.map((r) => r.stepPerStep)), `${(100 * median(runs.map((r) => r.overhead))).toFixed(2)}%`]);
}
await registry.close();
await engine.close();
console.log(`demo base ${base}, modules ${names.join(', ')}; batch 1, greedy, ${tokens} tokens, median of ${args.rounds}`);
console.log(table(['models', 'ms/token (wall)', 'model runs ms/step', 'engine step ms', 'overhead beyond the models'], rows));

/** The fusion kernel alone: z = z_base + sum w_i z_i over one row. */
const kernelRows = [];
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
    kernelRows.push([vocab, k, ((performance.now() - t0) / n) * 1000]);
  }
}
console.log('\nFusion kernel alone (one row, per token):');
console.log(table(['vocabulary', 'modules', 'µs per token'], kernelRows.map((r) => [String(r[0]), String(r[1]), r[2]])));
