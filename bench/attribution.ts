/**
 * What attribution (return_attribution) costs: engine ms/token on the demo base + add + sort (greedy, 128 new
 * tokens, batch 1 and 8 sequences in flight) with attribution off and on, from rounds alternated in one run; the
 * attribution kernel alone per token at several vocabulary sizes; and the entropy gate's decision at 151,936 ids. "Costs nothing when not asked" is the off row
 * against the engine of another source tree without this feature, run in the same process and rounds:
 *
 *   git archive <commit> | tar -x -C /tmp/before && ln -s "$PWD/node_modules" /tmp/before/node_modules
 *   npx tsx bench/attribution.ts [--against /tmp/before] [--tokens 128] [--rounds 9]
 */
import { resolve } from 'node:path';
import { ReasonerRegistry } from '../adapters/reasoner-registry.js';
import { EngineClient } from '../engine/engine-client.js';
import type { GenerationRequest } from '../engine/generation-request.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import { entropy } from '../kernels/entropy.js';
import { attributeToken } from '../kernels/token-attribution.js';
import { locateModelFiles } from '../models/model-files.js';
import { benchArgs, DEMO_BASE, DEMO_MODULES, median, table } from './bench-args.js';

const args = benchArgs({ tokens: { type: 'string', default: '128' }, rounds: { type: 'string', default: '9' }, against: { type: 'string' } });
const tokens = Number(args.tokens);
const prompt = Int32Array.from({ length: 16 }, (_, i) => 48 + (i % 10));
const base = locateModelFiles(DEMO_BASE).dir;

interface Setup {
  label: string;
  engine: { submit(r: GenerationRequest): AsyncIterable<unknown>; close(): Promise<void> };
  registry: { close(): Promise<void> };
  uses: GenerationRequest['reasoners'];
}

/** An engine with both demo modules, from this tree's modules or another tree's. */
async function setup(label: string, Engine: typeof EngineClient, Registry: typeof ReasonerRegistry): Promise<Setup> {
  const engine = await Engine.start({ baseDir: base, session: { ep: 'cpu', deviceId: 0, threads: 1 }, maxBatch: 8, maxQueue: 16, prefillChunk: 0, maxContext: 4096 });
  const registry = new Registry(engine, base, { ep: 'cpu', deviceId: 0, threads: 1 });
  const names: string[] = [];
  for (const dir of DEMO_MODULES) names.push((await registry.load(dir)).name);
  return { label, engine, registry, uses: registry.acquire(names.map((name) => ({ name }))).uses };
}

/**
 * Wall and CPU ms per generated token with `batch` sequences in flight. CPU time is the whole process's (every
 * thread; the other engines idle meanwhile): on a shared machine it drifts far less than wall time.
 */
async function timed(s: Setup, batch: number, attribution: boolean): Promise<{ wall: number; cpu: number }> {
  const request: GenerationRequest = { promptIds: prompt, maxTokens: tokens, minTokens: 0, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: null, stop: [], stopTokenIds: [], ignoreEos: true, logprobs: null, reasoners: s.uses, ...(attribution ? { attribution } : {}) };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: batch }, async () => {
    for await (const e of s.engine.submit(request)) void e;
  }));
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / (tokens * batch), cpu: (c.user + c.system) / 1000 / (tokens * batch) };
}

const setups = [await setup('this tree', EngineClient, ReasonerRegistry)];
if (args.against) {
  const dir = resolve(args.against);
  const other = await import(`${dir}/engine/engine-client.ts`);
  const otherRegistry = await import(`${dir}/adapters/reasoner-registry.ts`);
  setups.push(await setup(`--against ${args.against}`, other.EngineClient, otherRegistry.ReasonerRegistry));
}
const cases = [
  ...setups.slice(1).map((s) => ({ name: `${s.label}, no attribution`, s, attribution: false })),
  { name: 'this tree, attribution off', s: setups[0], attribution: false },
  { name: 'this tree, attribution on', s: setups[0], attribution: true },
];
const rows: (string | number)[][] = [];
for (const batch of [1, 8]) {
  for (const c of cases) await timed(c.s, batch, c.attribution);
  const samples = cases.map(() => [] as { wall: number; cpu: number }[]);
  for (let r = 0; r < Number(args.rounds); r++) {
    for (let k = 0; k < cases.length; k++) {
      const i = (k + r) % cases.length;
      samples[i].push(await timed(cases[i].s, batch, cases[i].attribution));
    }
  }
  const off = cases.findIndex((c) => c.name === 'this tree, attribution off');
  // Paired ratios: each round's sample against the same round's attribution-off sample.
  const paired = (i: number, k: 'wall' | 'cpu') => median(samples[i].map((x, r) => x[k] / samples[off][r][k])).toFixed(3);
  cases.forEach((c, i) => rows.push([String(batch), c.name, median(samples[i].map((x) => x.wall)), paired(i, 'wall'), median(samples[i].map((x) => x.cpu)), paired(i, 'cpu')]));
}
for (const s of setups) {
  await s.registry.close();
  await s.engine.close();
}
console.log(`demo base ${base} + ${DEMO_MODULES.length} modules; greedy, ${tokens} tokens; median of ${args.rounds} alternated rounds`);
console.log(table(['sequences', 'engine', 'wall ms/token', 'ratio to attribution off', 'CPU ms/token', 'ratio to attribution off'], rows));

/** The attribution kernel alone: one token, two modules. */
const kernelRows: (string | number)[][] = [];
for (const vocab of [257, 32_000, 151_936]) {
  const rowOf = () => Float32Array.from({ length: vocab }, () => Math.random() * 10 - 5);
  const baseRow = rowOf();
  const modules = [{ versionId: 1, weight: 1, row: rowOf() }, { versionId: 2, weight: 0.5, row: rowOf() }];
  const scratch = new Float32Array(vocab);
  const n = Math.max(50, Math.floor(2e7 / vocab));
  for (let i = 0; i < n / 5; i++) attributeToken(baseRow, modules, i % vocab, scratch);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) attributeToken(baseRow, modules, i % vocab, scratch);
  kernelRows.push([String(vocab), ((performance.now() - t0) / n) * 1000]);
}
console.log('\nAttribution kernel alone (one token, two modules; flat random logits):');
console.log(table(['vocabulary', 'µs per token'], kernelRows));

/** The entropy gate's own cost per gated sequence and step: the base row's entropy, on flat and on peaked logits. */
const gateRows: (string | number)[][] = [];
for (const [shape, value] of [['flat: uniform in [-5, 5]', () => Math.random() * 10 - 5], ['peaked: a trained LM\'s (most ids 30-60 below the top)', () => (Math.random() < 0.001 ? Math.random() * 10 : -30 - Math.random() * 30)]] as const) {
  const row = Float32Array.from({ length: 151_936 }, value);
  for (let i = 0; i < 20; i++) entropy(row);
  const n = 200;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) entropy(row);
  gateRows.push([shape, ((performance.now() - t0) / n) * 1000]);
}
console.log('\nThe entropy gate\'s decision (base entropy at 151,936 ids):');
console.log(table(['base logits', 'µs per step'], gateRows));
