/**
 * Whether specs that xgrammar refuses leak or break it: 500 bad specs (a third each JSON schemas, regexes and
 * EBNF grammars; each aborts a WebAssembly call) go to the grammar worker through EngineClient.compileGrammar,
 * as the routes send them. Prints, every 100: the process RSS, the grammar worker's memory outside its JS heap
 * (WebAssembly memories), and its probe instances; then checks that a valid grammar still compiles and decodes.
 *
 *   NODE_OPTIONS=--expose-gc npx tsx bench/grammar-aborts.ts [--count 500] [--model DIR]
 */
import { EngineClient } from '../engine/engine-client.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import { benchArgs, table } from './bench-args.js';

const args = benchArgs({ count: { type: 'string', default: '500' }, model: { type: 'string', default: 'tests/fixtures/tiny-mha-f32' } });
const count = Number(args.count);
const engine = await EngineClient.start({ baseDir: args.model!, session: { ep: 'cpu', deviceId: 0, threads: 1 }, maxBatch: 2, maxQueue: 8, prefillChunk: 0, maxContext: 4096 });
const good: GrammarSpec = { kind: 'json_schema', schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } };
await engine.compileGrammar(good);
const mib = (b: number) => b / 2 ** 20;
const rows: (string | number)[][] = [];
const sample = async (done: number, failedAs: string) => {
  (globalThis as { gc?: () => void }).gc?.();
  const s = await engine.grammarStats();
  rows.push([String(done), mib(process.memoryUsage().rss), mib(s.externalBytes), String(s.probes), String(s.runtimes), failedAs]);
};
await sample(0, '');
const t0 = performance.now();
let lastError = '';
for (let i = 0; i < count; i++) {
  const spec: GrammarSpec = i % 3 === 0 ? { kind: 'json_schema', schema: { type: `objec${i}` } } : i % 3 === 1 ? { kind: 'regex', pattern: `[a-${i}` } : { kind: 'ebnf', grammar: `root ::= undefined_${i}` };
  lastError = await engine.compileGrammar(spec).then(() => 'compiled!', (e: Error) => e.message);
  if ((i + 1) % 100 === 0) await sample(i + 1, lastError.slice(0, 60));
}
const perSpecMs = (performance.now() - t0) / count;
let text = '';
for await (const e of engine.submit({ promptIds: Int32Array.of(1, 2, 3), maxTokens: 30, minTokens: 0, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: null, stop: [], stopTokenIds: [], ignoreEos: false, logprobs: null, reasoners: [], grammar: good })) {
  text += e.text;
}
await engine.close();
console.log(table(['bad specs', 'process RSS MiB', 'grammar worker external MiB', 'probe instances', 'serving runtimes', 'last error'], rows));
console.log(`\n${perSpecMs.toFixed(1)} ms per refused spec; afterwards a valid schema gives ${JSON.stringify(text)}`);
