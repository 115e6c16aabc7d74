/**
 * Issue 11's step breakdown: at a 151,936-token vocabulary, the time of the model runs against the time of fusion,
 * logit processors, sampling and detokenization (the engine's own per-step timers), for batch 1 and 8, base alone
 * and base + one module, greedy and top_p. The share of the step that is not the models is the figure to keep low.
 *
 *   /usr/bin/python3 training/make_vocab_bench_model.py        # once: .bench-models/vocab-152k (~1.2 GB)
 *   nice -n -5 npx tsx bench/step-share.ts [--models .bench-models/vocab-152k] [--tokens 48] [--threads 1]
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ReasonerRegistry } from '../adapters/reasoner-registry.js';
import { EngineClient } from '../engine/engine-client.js';
import type { ReasonerUse } from '../engine/generation-request.js';
import type { EngineStats } from '../engine/engine-stats.js';
import { DEFAULT_SAMPLING, type SamplingParams } from '../kernels/sampling-params.js';
import { benchArgs, table } from './bench-args.js';

const args = benchArgs({
  models: { type: 'string', default: '.bench-models/vocab-152k' },
  tokens: { type: 'string', default: '48' },
  threads: { type: 'string', default: '1' },
});
const tokens = Number(args.tokens);
const threads = Number(args.threads);
const baseDir = join(args.models!, 'base');

const engine = await EngineClient.start({
  baseDir, session: { ep: 'cpu', deviceId: 0, threads }, maxBatch: 8, maxQueue: 8, prefillChunk: 128, maxContext: 4096,
});
const registry = new ReasonerRegistry(engine, baseDir, { ep: 'cpu', deviceId: 0, threads: 1 });
const module = await registry.load(join(args.models!, 'reasoners', 'r1'));
const withModule = registry.acquire([{ name: module.name }]).uses;

async function run(batch: number, sampling: SamplingParams, reasoners: ReasonerUse[]): Promise<EngineStats> {
  const before = await engine.stats();
  await Promise.all(Array.from({ length: batch }, async (_, i) => {
    const promptIds = Int32Array.from({ length: 16 }, (_, j) => 40 + ((i * 13 + j * 7) % 200));
    for await (const _e of engine.submit({
      promptIds, maxTokens: tokens, minTokens: 0, sampling, seed: BigInt(i), stop: [], stopTokenIds: [], ignoreEos: true, logprobs: null, reasoners,
    }));
  }));
  const after = await engine.stats();
  const delta = { ...after };
  for (const k of ['steps', 'baseOrtMs', 'baseLayoutMs', 'moduleWaitMs', 'sampleMs', 'stepMs', 'sampledOffThread', 'generatedTokens'] as const) delta[k] = after[k] - before[k];
  return delta;
}

const greedy = { ...DEFAULT_SAMPLING, temperature: 0 };
const topP = { ...DEFAULT_SAMPLING, topP: 0.9 };
const scenarios: [string, number, SamplingParams, ReasonerUse[]][] = [
  ['1, base, greedy', 1, greedy, []],
  ['1, base, top_p 0.9, temperature 0.8', 1, { ...topP, temperature: 0.8 }, []],
  ['8, base, greedy', 8, greedy, []],
  ['8, base, top_p 0.9', 8, topP, []],
  ['8, base + module, top_p 0.9', 8, topP, withModule],
];
await run(2, greedy, []); // warm-up
const rows: (string | number)[][] = [];
let worstAtEight = 0;
for (const [label, batch, sampling, reasoners] of scenarios) {
  const s = await run(batch, sampling, reasoners);
  const modelMs = (s.stepMs - s.sampleMs) / s.steps;
  const sampleMs = s.sampleMs / s.steps;
  const share = s.sampleMs / s.stepMs;
  if (batch === 8) worstAtEight = Math.max(worstAtEight, share);
  rows.push([label, modelMs, sampleMs, `${(100 * share).toFixed(1)}%`, `${s.sampledOffThread} of ${s.generatedTokens}`]);
}
await registry.close();
await engine.close();

console.log(`base ${baseDir} (130 M parameters, vocabulary 151,936), module ${module.name} (39 M); ${tokens} tokens per stream; ${threads} intra-op thread(s); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(table(['batch, models, sampling', 'model run ms/step', 'fusion + sampling + text ms/step', 'share of the step', 'tokens sampled on a sampler worker'], rows));
console.log(`step-share: worst share of the step at batch 8: ${(100 * worstAtEight).toFixed(1)}%`);
