/**
 * Issue 5's benchmark, on the demo models (the fixture if they are absent), through the engine:
 *  1. aggregate tokens/s and p50/p99 inter-token latency at 1, 2, 4, 8, 16 concurrent streams, base alone and
 *     base + one module, and the ratio of 8 streams to 1;
 *  2. what re-laying out the KV cache when the batch changes costs;
 *  3. fairness: inter-token latency of running streams while a 1,000-token prompt arrives, with whole-prompt
 *     prefill (--prefill-chunk 0) and with chunked prefill.
 *
 *   npx tsx bench/batching.ts [--tokens 64] [--chunk 64] [--threads 2] [--model DIR] [--module DIR]
 */
import { ReasonerRegistry } from '../adapters/reasoner-registry.js';
import { EngineClient } from '../engine/engine-client.js';
import type { GenerationRequest, ReasonerUse } from '../engine/generation-request.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import { locateModelFiles } from '../models/model-files.js';
import { benchArgs, DEMO_BASE, DEMO_MODULES, percentile, table } from './bench-args.js';

const args = benchArgs({
  tokens: { type: 'string', default: '64' },
  chunk: { type: 'string', default: '64' },
  threads: { type: 'string', default: '2' },
  streams: { type: 'string', default: '1,2,4,8,16' },
  model: { type: 'string', default: DEMO_BASE },
  module: { type: 'string', default: DEMO_MODULES[0] },
});
const tokens = Number(args.tokens);
const threads = Number(args.threads);
const base = locateModelFiles(args.model!).dir;

async function startEngine(prefillChunk: number): Promise<EngineClient> {
  return EngineClient.start({ baseDir: base, session: { ep: 'cpu', deviceId: 0, threads }, maxBatch: 16, maxQueue: 64, prefillChunk, maxContext: 4096 });
}

function request(promptIds: Int32Array, maxTokens: number, reasoners: ReasonerUse[]): GenerationRequest {
  return { promptIds, maxTokens, minTokens: 0, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: null, stop: [], stopTokenIds: [], ignoreEos: true, logprobs: null, reasoners };
}

const promptOf = (i: number, len = 12) => Int32Array.from({ length: len }, (_, j) => 48 + ((i * 5 + j * 3) % 10));

/** Runs `n` streams at once; returns their token arrival times. */
async function streams(engine: EngineClient, n: number, reasoners: ReasonerUse[], maxTokens = tokens): Promise<{ wallMs: number; gaps: number[]; total: number }> {
  const t0 = performance.now();
  const gaps: number[] = [];
  let total = 0;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      let last: number | null = null;
      for await (const e of engine.submit(request(promptOf(i), maxTokens, reasoners))) {
        if (e.kind !== 'token') continue;
        const now = performance.now();
        if (last !== null) gaps.push(now - last);
        last = now;
        total++;
      }
    }),
  );
  return { wallMs: performance.now() - t0, gaps, total };
}

const engine = await startEngine(Number(args.chunk));
const registry = new ReasonerRegistry(engine, base, { ep: 'cpu', deviceId: 0, threads: 1 });
const module = await registry.load(args.module!);
const withModule = registry.acquire([{ name: module.name }]).uses;
await streams(engine, 2, [], 16); // warm-up

console.log(`base ${base}, module ${module.name}; ${tokens} tokens per stream, greedy; base ${threads} intra-op threads, module 1; 2 cores`);
const rows: (string | number)[][] = [];
const ratios: string[] = [];
for (const [label, reasoners] of [['base', [] as ReasonerUse[]], [`base + ${module.name}`, withModule]] as const) {
  let single = 0;
  for (const n of args.streams!.split(',').map(Number)) {
    const r = await streams(engine, n, reasoners);
    const tps = (r.total / r.wallMs) * 1000;
    if (n === 1) single = tps;
    rows.push([label, String(n), tps, tps / single, percentile(r.gaps, 50), percentile(r.gaps, 99)]);
    if (n === 8) ratios.push(`${label}: 8 streams give ${(tps / single).toFixed(2)}x the tokens/s of 1`);
  }
}
console.log(table(['models', 'streams', 'tokens/s', 'vs 1 stream', 'ITL p50 ms', 'ITL p99 ms'], rows));
for (const r of ratios) console.log(r);

const stats = await engine.stats();
console.log(
  `\nKV re-layout when the batch changes: ${stats.relayouts} times, ${(stats.relayoutMs / Math.max(1, stats.relayouts)).toFixed(3)} ms each on average, ` +
    `${((100 * stats.relayoutMs) / stats.stepMs).toFixed(2)}% of all step time (${stats.steps} steps)`,
);
await registry.close();
await engine.close();

/** 4 streams decode; a 1,000-token prompt arrives; latency of the running streams' tokens meanwhile. */
async function fairness(prefillChunk: number): Promise<{ maxGap: number; p99: number; p50: number; ttftLong: number }> {
  const eng = await startEngine(prefillChunk);
  await streams(eng, 1, [], 8);
  const gaps: number[] = [];
  let arrival = 0;
  let longDone = 0;
  let ttftLong = 0;
  const running = Array.from({ length: 4 }, async (_, i) => {
    let last: number | null = null;
    for await (const e of eng.submit(request(promptOf(i), 400, []))) {
      if (e.kind !== 'token') continue;
      const now = performance.now();
      // Gaps that overlap the long prompt's prefill (from its arrival to its first token).
      if (last !== null && arrival > 0 && now >= arrival && (longDone === 0 || last <= longDone)) gaps.push(now - last);
      last = now;
    }
  });
  await new Promise((r) => setTimeout(r, 150));
  arrival = performance.now();
  for await (const e of eng.submit(request(Int32Array.from({ length: 1000 }, (_, j) => 32 + (j % 90)), 4, []))) {
    if (e.kind === 'token' && longDone === 0) {
      longDone = performance.now();
      ttftLong = longDone - arrival;
    }
  }
  await Promise.all(running);
  await eng.close();
  return { maxGap: Math.max(...gaps), p99: percentile(gaps, 99), p50: percentile(gaps, 50), ttftLong };
}

const before = await fairness(0);
const after = await fairness(Number(args.chunk));
console.log('\nInter-token latency of 4 running streams while a 1,000-token prompt is prefilled:');
console.log(table(['prefill', 'ITL p50 ms', 'ITL p99 ms', 'max ITL ms', 'long prompt TTFT ms'], [
  ['whole prompt (--prefill-chunk 0)', before.p50, before.p99, before.maxGap, before.ttftLong],
  [`chunked (--prefill-chunk ${args.chunk})`, after.p50, after.p99, after.maxGap, after.ttftLong],
]));
