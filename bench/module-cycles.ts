/**
 * Issue 4's leak check: load and unload one reasoning module N times through the admin API of the real
 * server (each cycle: POST /v1/reasoners, one completion that uses it, DELETE /v1/reasoners/:name), and print
 * the main process's RSS and JS heap at baseline, after 10 cycles and after N, with the ratios.
 *
 *   NODE_OPTIONS=--expose-gc npx tsx bench/module-cycles.ts [--cycles 50] [--module DIR] [--model DIR]
 *
 * Module workers are threads of this process: their native memory (ONNX Runtime sessions, KV caches) shows in
 * RSS. The heap figures are the main thread's. With --expose-gc the figures are taken after a full GC; without
 * it they are noisier (the script says so). Baseline: after one warm-up cycle (the first load maps ONNX
 * Runtime's code and allocators in a worker once; that is not a leak).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import pino from 'pino';
import { parseServerOptions } from '../server/options.js';
import { startServer } from '../server/start.js';
import { benchArgs, DEMO_BASE, DEMO_MODULES, median, table } from './bench-args.js';

const args = benchArgs({
  cycles: { type: 'string', default: '50' },
  module: { type: 'string', default: DEMO_MODULES[0] },
  model: { type: 'string', default: DEMO_BASE },
});
const cycles = Number(args.cycles);
const gc = (globalThis as { gc?: () => void }).gc;

const root = mkdtempSync(join(tmpdir(), 'unir-cycles-'));
cpSync(resolve(args.module!), join(root, 'module'), { recursive: true });
const options = parseServerOptions(['--model', args.model!, '--port', '0', '--threads', '1', '--reasoners-dir', root, '--log-level', 'silent'], {});
// The module dir sits in the root, so start-up loads it; the cycles use another name over the same files.
const server = await startServer(options, pino({ level: 'silent' }));
await server.ready;
const modelId = basename(resolve(args.model!));

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, json: await res.json() };
}

const cycleMs: number[] = [];
async function cycle(): Promise<void> {
  const t0 = performance.now();
  const loaded = await call('POST', '/v1/reasoners', { path: 'module', name: 'cycled' });
  if (loaded.status !== 201) throw new Error(`load failed: ${JSON.stringify(loaded.json)}`);
  const out = await call('POST', '/v1/completions', { model: modelId, prompt: 'Hello world', max_tokens: 16, ignore_eos: true, reasoners: [{ name: 'cycled' }] });
  if (out.status !== 200) throw new Error(`completion failed: ${JSON.stringify(out.json)}`);
  const gone = await call('DELETE', '/v1/reasoners/cycled');
  if (gone.status !== 200) throw new Error(`unload failed: ${JSON.stringify(gone.json)}`);
  cycleMs.push(performance.now() - t0);
}

interface Sample {
  label: string;
  rss: number;
  heapUsed: number;
  external: number;
}

async function sample(label: string): Promise<Sample> {
  // Let terminated workers exit and finalizers run, then collect.
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 3 && gc; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { label, rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

const mb = (n: number) => n / 1024 / 1024;
const samples: Sample[] = [await sample('server ready (no cycle yet)')];
await cycle();
const baseline = await sample('baseline (after 1 warm-up cycle)');
samples.push(baseline);
for (let i = 1; i <= cycles; i++) {
  await cycle();
  if (i === 10 || i === cycles) samples.push(await sample(`after ${i} cycles`));
}
const left = (await call('GET', '/v1/reasoners')).json.data.filter((i: { name: string }) => i.name === 'cycled');

console.log(`module-cycles: ${cycles} load/unload cycles of ${args.module} on ${args.model} (node ${process.version}, gc ${gc ? 'exposed' : 'NOT exposed: run with NODE_OPTIONS=--expose-gc'})`);
console.log(
  table(
    ['when', 'RSS MB', 'heap used MB', 'external MB', 'RSS / baseline', 'heap / baseline'],
    samples.map((s) => [s.label, mb(s.rss), mb(s.heapUsed), mb(s.external), s.rss / baseline.rss, s.heapUsed / baseline.heapUsed]),
  ),
);
console.log(`cycle time: median ${median(cycleMs).toFixed(0)} ms (load + 16-token completion + unload); versions of "cycled" left in GET /v1/reasoners: ${left.length}`);
const last = samples[samples.length - 1];
console.log(`RSS growth over ${cycles} cycles: ${(mb(last.rss - baseline.rss)).toFixed(1)} MB (${((mb(last.rss - baseline.rss) * 1024) / cycles).toFixed(0)} KB per cycle)`);

await server.close();
rmSync(root, { recursive: true, force: true });
