/**
 * Issue 11's prefill benchmark: time to first token (TTFT) of 500, 2,000 and 4,000-token prompts through the
 * engine on the same weights exported with num_logits_to_keep and without it (which unir-serve rewrites at load),
 * plus the export without it served unchanged (--keep-all-logits) for the before; and the peak RSS of a
 * 2,000-token prefill in one piece (--prefill-chunk 0). Each export runs in its own child process (memory is
 * measured per process); TTFT is the median of the rounds, one intra-op thread, prefill chunk 128 (the server's
 * default).
 *
 *   /usr/bin/python3 training/make_vocab_bench_model.py        # once: .bench-models/vocab-152k (~1.2 GB)
 *   nice -n -5 npx tsx bench/prefill.ts [--models .bench-models/vocab-152k] [--rounds 3] [--lengths 500,2000,4000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineClient } from '../engine/engine-client.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import { benchArgs, median, table } from './bench-args.js';

const args = benchArgs({
  models: { type: 'string', default: '.bench-models/vocab-152k' },
  rounds: { type: 'string', default: '3' },
  lengths: { type: 'string', default: '500,2000,4000' },
  child: { type: 'string' },
  keepAll: { type: 'boolean', default: false },
});

interface ChildResult {
  loadMs: number;
  ttft: Record<string, number>;
  peakRssMiB: number;
  rssBeforeMiB: number;
  note: string | null;
}

const prompt = (n: number) => Int32Array.from({ length: n }, (_, i) => 32 + ((i * 7919) % 250));
const request = (n: number) => ({
  promptIds: prompt(n), maxTokens: 1, minTokens: 0, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: null,
  stop: [], stopTokenIds: [], ignoreEos: true, logprobs: null, reasoners: [],
});

async function ttft(engine: EngineClient, n: number): Promise<number> {
  const t0 = performance.now();
  for await (const e of engine.submit(request(n))) if (e.kind === 'token') return performance.now() - t0;
  throw new Error('no token');
}

/** In the child: load one export, time its prefills, then one whole-prompt prefill of 2,000 tokens for memory. */
async function child(dir: string, keepAll: boolean): Promise<ChildResult> {
  const lengths = args.lengths!.split(',').map(Number);
  // A fresh cache: the first load rewrites (its time is in "load ms"), the second reuses it. Removed at the end.
  const graphCacheDir = mkdtempSync(join(tmpdir(), 'unir-bench-graphs-'));
  const session = { ep: 'cpu' as const, deviceId: 0, threads: 1, graphCacheDir, rewriteLogitsGraph: !keepAll };
  const t0 = performance.now();
  const start = (prefillChunk: number) => EngineClient.start({ baseDir: dir, session, maxBatch: 1, maxQueue: 1, prefillChunk, maxContext: 8192 });
  const engine = await start(128);
  const loadMs = performance.now() - t0;
  await ttft(engine, 16);
  const times: Record<string, number[]> = {};
  for (let r = 0; r < Number(args.rounds); r++) {
    for (const n of lengths) (times[n] ??= []).push(await ttft(engine, n));
  }
  await engine.close();
  const whole = await start(0);
  await ttft(whole, 16);
  const rssBefore = process.memoryUsage.rss();
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  await ttft(whole, 2000);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const note = whole.base.logitsNote?.message ?? null;
  await whole.close();
  rmSync(graphCacheDir, { recursive: true, force: true });
  return {
    loadMs,
    ttft: Object.fromEntries(Object.entries(times).map(([n, xs]) => [n, median(xs)])),
    peakRssMiB: peak / 2 ** 20,
    rssBeforeMiB: rssBefore / 2 ** 20,
    note,
  };
}

if (args.child) {
  process.stdout.write(`${JSON.stringify(await child(args.child, args.keepAll!))}\n`);
  process.exit(0);
}

const variants = [
  { label: 'with num_logits_to_keep', dir: join(args.models!, 'base'), keepAll: false, lengths: args.lengths!, rounds: args.rounds! },
  { label: 'without (rewritten at load)', dir: join(args.models!, 'base-no-keep'), keepAll: false, lengths: args.lengths!, rounds: args.rounds! },
  // Slow (its 4,000-token prefill computes 4,000 x 151,936 logits): 2,000 tokens at most, one round.
  { label: 'without, served unchanged (--keep-all-logits)', dir: join(args.models!, 'base-no-keep'), keepAll: true, lengths: '500,2000', rounds: '1' },
];
const results = new Map<string, ChildResult>();
for (const v of variants) {
  const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1], '--child', v.dir, ...(v.keepAll ? ['--keepAll'] : []), '--rounds', v.rounds, '--lengths', v.lengths], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  results.set(v.label, JSON.parse(out.trim().split('\n').pop()!));
}

const lengths = args.lengths!.split(',');
console.log(`model ${args.models} (151,936-token vocabulary, 130 M parameters); one intra-op thread; prefill chunk 128; median of ${args.rounds} rounds (served unchanged: one); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(table(
  ['export', ...lengths.map((n) => `TTFT ms, ${n} tokens`), 'load ms', 'peak RSS MiB, 2,000-token prefill (chunk 0)', 'RSS before MiB'],
  variants.map((v) => {
    const r = results.get(v.label)!;
    return [v.label, ...lengths.map((n) => r.ttft[n] ?? '-'), r.loadMs, r.peakRssMiB, r.rssBeforeMiB];
  }),
));
for (const v of variants) {
  const note = results.get(v.label)!.note;
  if (note) console.log(`${v.label}: ${note}`);
}
const withKeep = results.get(variants[0].label)!;
const rewritten = results.get(variants[1].label)!;
const unchanged = results.get(variants[2].label)!;
console.log(`prefill: peak RSS ratio without/with logits_to_keep (2,000-token prefill): ${(rewritten.peakRssMiB / withKeep.peakRssMiB).toFixed(3)}; served unchanged: ${(unchanged.peakRssMiB / withKeep.peakRssMiB).toFixed(3)}`);
console.log(`prefill: ttft ratio served unchanged/with logits_to_keep at 2000 tokens: ${(unchanged.ttft['2000'] / withKeep.ttft['2000']).toFixed(3)}`);
console.log(`prefill: ttft ratio without/with logits_to_keep at 2000 tokens: ${(rewritten.ttft['2000'] / withKeep.ttft['2000']).toFixed(3)}`);
