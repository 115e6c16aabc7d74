/**
 * Issue 7's benchmark: the engine on cpu, webgpu and cuda, at batch 1 and 8, base alone and base + one module,
 * on the models of training/make_gpu_model.py (a ~0.5B Qwen2-like float16 base and a 2-layer module).
 *
 *   node dist/bench/gpu.js --models /tmp/unir-gpu-models [--eps webgpu,cuda,cpu] [--batches 1,8] [--tokens 64]
 *        [--prompt 32] [--growth-eps webgpu] [--growth-steps 10000] [--cuda-root DIR] [--deadline-s S] [--json FILE]
 *        [--fusion-sites host,device] [--fusion-rounds 2]
 *
 * On webgpu each configuration runs with the logits fused on the host (every model's rows come down) and on the
 * device (--fusion-site device: one fused row per sequence comes down), in alternated rounds (host, device, then
 * device, host, ...), one engine at a time (one thread per device); the device/host tokens/s ratio of each round
 * is printed. Other providers fuse on the host only.
 *
 * Reports per provider and configuration: tokens/s, and each step split into the base's ONNX Runtime run,
 * feeds and re-layout (host work), waiting for the module, fusion + sampling, and an estimate of the
 * device<->host copies inside the run (see copyEstimate); then a correctness check of each GPU provider against
 * the CPU over a schedule with joins and leaves (re-layouts on the device), and the growth check: 10,000 decode
 * steps with sequences joining and leaving, counting the runner's device tensors created and disposed.
 * A provider that cannot start is reported with its error, not fatal. Each provider runs in its own process
 * (a crash in one leaves the others' results); `--cuda-root` names a tree (dist/ + node_modules/) whose
 * onnxruntime-node carries the CUDA provider (scripts/gpu-run.sh makes it). The table goes to stdout, the JSON
 * to --json and to $OUT/gpu-bench.json when OUT is set.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { ReasonerRegistry } from '../adapters/reasoner-registry.js';
import { UnirError } from '../common/errors.js';
import { EngineClient } from '../engine/engine-client.js';
import type { EngineStats } from '../engine/engine-stats.js';
import type { FusionSite } from '../engine/protocol.js';
import type { GenerationRequest, SequenceEvent } from '../engine/generation-request.js';
import { DEFAULT_SAMPLING } from '../kernels/sampling-params.js';
import type { DecoderRunner, RunLogits } from '../models/decoder-runner.js';
import { createSessionOn, type ExecutionProvider } from '../models/execution-provider.js';
import { graphPath } from '../models/kv-gather-graph.js';
import { loadDecoder, type LoadedDecoder } from '../models/load-decoder.js';

const args = parseArgs({
  options: {
    models: { type: 'string' },
    eps: { type: 'string', default: 'webgpu,cuda,cpu' },
    batches: { type: 'string', default: '1,8' },
    tokens: { type: 'string', default: '64' },
    prompt: { type: 'string', default: '32' },
    'growth-eps': { type: 'string', default: 'webgpu' },
    'growth-steps': { type: 'string', default: '10000' },
    'growth-max-s': { type: 'string', default: '180' },
    'check-runs': { type: 'string', default: '24' },
    'cuda-root': { type: 'string' },
    'child-timeout': { type: 'string', default: '420' },
    'deadline-s': { type: 'string', default: '0' },
    json: { type: 'string' },
    child: { type: 'string' },
    ep: { type: 'string' },
    'fusion-sites': { type: 'string', default: 'host,device' },
    'fusion-rounds': { type: 'string', default: '2' },
  },
  allowPositionals: false,
}).values;

const EPS = ['cpu', 'webgpu', 'cuda'] as const;
const MARK = '@@RESULT ';
const cores = availableParallelism();

function threadsFor(ep: ExecutionProvider): { threads: number; moduleThreads: number } {
  // The CPU provider needs the cores; GPU providers only run a few host-side nodes.
  return ep === 'cpu' ? { threads: Math.max(1, cores - Math.min(4, Math.floor(cores / 4))), moduleThreads: Math.max(1, Math.min(4, Math.floor(cores / 4))) } : { threads: 2, moduleThreads: 1 };
}

/** A child's result so far: printed after each part, so a crash later (a native abort) keeps what was measured. */
function report(result: unknown): void {
  process.stdout.write(`${MARK}${JSON.stringify(result)}\n`);
}

function errorText(err: unknown): { code: string; message: string } {
  return err instanceof UnirError ? { code: err.code, message: err.message } : { code: 'error', message: (err as Error)?.message ?? String(err) };
}

// ---------------------------------------------------------------- child: decode (the engine, one provider)

interface DecodeRow {
  ep: ExecutionProvider;
  fusion: FusionSite;
  round: number;
  batch: number;
  module: boolean;
  tokensPerS: number;
  steps: number;
  msPerStep: number;
  ortMs: number;
  layoutMs: number;
  moduleWaitMs: number;
  sampleMs: number;
  otherMs: number;
  copyEstMs: number;
  relayouts: number;
}

async function collect(events: AsyncIterable<SequenceEvent>): Promise<number> {
  let n = 0;
  for await (const e of events) {
    if (e.kind === 'token') n++;
    else if (e.finishReason === 'error') throw new Error(`generation failed: ${e.error?.message}`);
  }
  return n;
}

function request(promptLen: number, maxTokens: number, seed: number, reasoners: GenerationRequest['reasoners']): GenerationRequest {
  let s = seed * 2654435761 + 1;
  const promptIds = Int32Array.from({ length: promptLen }, () => 3 + ((s = (s * 1103515245 + 12345) >>> 0) % 290));
  return {
    promptIds,
    maxTokens,
    minTokens: 0,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0.8, topK: 50, topP: 0.95 },
    seed: BigInt(seed),
    stop: [],
    stopTokenIds: [],
    ignoreEos: true,
    logprobs: null,
    reasoners,
  };
}

/** Fusion sites a provider is measured with: device fusion needs the logits on a WebGPU device. */
function fusionSites(ep: ExecutionProvider): FusionSite[] {
  const asked = args['fusion-sites']!.split(',').filter(Boolean) as FusionSite[];
  return ep === 'webgpu' && asked.length > 0 ? asked : ['host'];
}

async function decodeChild(ep: ExecutionProvider): Promise<unknown> {
  const sites = fusionSites(ep);
  const rounds = sites.length > 1 ? Math.max(1, Number(args['fusion-rounds'])) : 1;
  const rows: DecodeRow[] = [];
  const errors: { fusion: FusionSite; module: boolean; batch: number; message: string }[] = [];
  let summary: EngineClient['base'] | null = null;
  const { threads, moduleThreads } = threadsFor(ep);
  for (let round = 1; round <= rounds; round++) {
    // Alternated: host first in odd rounds, device first in even ones (drift in the machine falls on both).
    for (const site of round % 2 === 1 ? sites : [...sites].reverse()) {
      const r = await decodeWith(ep, site, round, rows, errors);
      if (r.unavailable) return { ep, status: 'unavailable', ...r.unavailable };
      summary = r.summary;
    }
  }
  return { ep, status: 'ran', model: summary, threads, moduleThreads, rows, errors, ratios: fusionRatios(rows) };
}

/** One engine (one fusion site) through every configuration; it is closed before the next starts. */
async function decodeWith(
  ep: ExecutionProvider,
  site: FusionSite,
  round: number,
  rows: DecodeRow[],
  errors: { fusion: FusionSite; module: boolean; batch: number; message: string }[],
): Promise<{ summary: EngineClient['base'] | null; unavailable?: { code: string; message: string } }> {
  const models = resolve(args.models!);
  const baseDir = join(models, 'base');
  const batches = args.batches!.split(',').map(Number);
  const tokens = Number(args.tokens);
  const promptLen = Number(args.prompt);
  const { threads, moduleThreads } = threadsFor(ep);
  let engine: EngineClient;
  try {
    engine = await EngineClient.start({
      baseDir,
      session: { ep, deviceId: 0, threads },
      maxBatch: Math.max(...batches),
      maxQueue: 64,
      prefillChunk: 0,
      maxContext: Number.MAX_SAFE_INTEGER,
      fusionSite: site,
    });
  } catch (err) {
    return { summary: null, unavailable: errorText(err) };
  }
  const registry = new ReasonerRegistry(engine, baseDir, { ep, deviceId: 0, threads: moduleThreads, logitsOnDevice: site === 'device' });
  const summary = engine.base;
  try {
    for (const withModule of [false, true]) {
      let reasoners: GenerationRequest['reasoners'] = [];
      if (withModule) {
        try {
          await registry.load(join(models, 'reasoners', 'r1'));
          const lease = registry.acquire([{ name: 'r1' }]);
          reasoners = lease.uses;
        } catch (err) {
          errors.push({ fusion: site, module: true, batch: 0, message: errorText(err).message });
          break;
        }
      }
      for (const batch of batches) {
        try {
          rows.push({ ...(await measure(engine, ep, batch, withModule, reasoners, promptLen, tokens, site)), round });
          process.stderr.write(`[${ep} ${site} fusion, round ${round}] batch ${batch}${withModule ? ' + module' : ''}: ${rows.at(-1)!.tokensPerS.toFixed(1)} tokens/s\n`);
        } catch (err) {
          errors.push({ fusion: site, module: withModule, batch, message: errorText(err).message });
        }
        report({ ep, status: 'ran', partial: true, model: summary, threads, moduleThreads, rows, errors });
      }
    }
  } finally {
    await registry.close();
    await engine.close();
  }
  if (ep !== 'cpu') {
    const width = promptLen + tokens / 2;
    for (const row of rows.filter((r) => r.fusion === site && r.round === round)) {
      // Logits rows that come down per step: one per model per sequence on the host path, one per sequence fused on the device.
      const logitRows = site === 'device' ? row.batch : row.batch * (row.module ? 2 : 1);
      row.copyEstMs = await copyEstimate(ep, summary, row.batch, width, logitRows);
    }
  }
  return { summary };
}

/** device/host tokens/s per configuration and round (same round: measured back to back). */
function fusionRatios(rows: DecodeRow[]): { batch: number; module: boolean; round: number; deviceOverHost: number }[] {
  const out = [];
  for (const d of rows.filter((r) => r.fusion === 'device')) {
    const h = rows.find((r) => r.fusion === 'host' && r.round === d.round && r.batch === d.batch && r.module === d.module);
    if (h) out.push({ batch: d.batch, module: d.module, round: d.round, deviceOverHost: d.tokensPerS / h.tokensPerS });
  }
  return out;
}

async function measure(
  engine: EngineClient,
  ep: ExecutionProvider,
  batch: number,
  withModule: boolean,
  reasoners: GenerationRequest['reasoners'],
  promptLen: number,
  tokens: number,
  fusion: FusionSite,
): Promise<Omit<DecodeRow, 'round'>> {
  // Warm-up at this batch size (kernels, allocator, shader compilation, JIT), not counted.
  const warm = Math.min(16, tokens);
  await Promise.all(Array.from({ length: batch }, (_, i) => collect(engine.submit(request(promptLen, warm, 1000 + i, reasoners)))));
  const s0 = await engine.stats();
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: batch }, (_, i) => collect(engine.submit(request(promptLen, tokens, i + 1, reasoners)))));
  const wall = performance.now() - t0;
  const s1 = await engine.stats();
  const d = (k: keyof EngineStats) => (s1[k] as number) - (s0[k] as number);
  const steps = d('steps');
  const per = (k: keyof EngineStats) => d(k) / steps;
  const parts = { ortMs: per('baseOrtMs'), layoutMs: per('baseLayoutMs'), moduleWaitMs: per('moduleWaitMs'), sampleMs: per('sampleMs') };
  const msPerStep = per('stepMs');
  // Measured later, once this engine is closed (a WebGPU device is driven by one thread at a time).
  const copyEstMs = 0;
  return {
    ep,
    fusion,
    batch,
    module: withModule,
    tokensPerS: (counts.reduce((a, b) => a + b, 0) / wall) * 1000,
    steps,
    msPerStep,
    ...parts,
    otherMs: msPerStep - parts.ortMs - parts.layoutMs - parts.moduleWaitMs - parts.sampleMs,
    copyEstMs,
    relayouts: d('relayouts'),
  };
}

/**
 * The device<->host copies inside one base run, measured apart: an Identity graph (models/graphs/kv_copy_*)
 * on the same provider, fed a host tensor and fetched to the host, so one run is one upload and one download
 * of its size. On CUDA the Node binding fetches every output to the host, so a step moves the whole KV cache
 * up (past) and down (present) and the logits down: the identity runs over the cache's elements at the
 * measured run's mean width (one upload + one download of the cache) plus the logits' (an upper bound: they
 * only go down). On WebGPU the cache stays on the device; only the logits cross: every model's rows with host
 * fusion, one fused row per sequence with device fusion (the whole step's, base and module together). Median of 15 runs after 3
 * warm-ups; one tensor stands for the run's 2 x layers tensors, so per-tensor overhead is not counted.
 */
async function copyEstimate(ep: ExecutionProvider, model: EngineClient['base'], batch: number, width: number, logitRows: number): Promise<number> {
  const kvElements = 2 * model.numLayers * batch * model.numKvHeads * width * model.headDim;
  const logitElements = logitRows * model.vocabSize;
  const elements = Math.round(ep === 'cuda' ? kvElements + logitElements : logitElements);
  const dtype = model.kvDtype === 'float16' ? 'float16' : 'float32';
  const session = await createSessionOn(ep, graphPath('kv_copy', dtype), { ep, deviceId: 0, threads: 1 });
  try {
    const data = dtype === 'float16' ? new Uint16Array(elements) : new Float32Array(elements);
    const times: number[] = [];
    for (let i = 0; i < 18; i++) {
      const x = new ort.Tensor(dtype, data, [elements]);
      const t0 = performance.now();
      const out = await session.run({ x });
      times.push(performance.now() - t0);
      out.y.dispose();
    }
    const kept = times.slice(3).sort((a, b) => a - b);
    return kept[Math.floor(kept.length / 2)];
  } finally {
    await session.release();
  }
}

// ---------------------------------------------------------------- child: check and growth (a runner, one provider)

/** Sequences joining, decoding together and leaving; a decode run takes every live sequence. */
class Schedule {
  private s: number;
  private readonly left = new Map<number, number>();
  private nextId = 1;
  decodeRuns = 0;

  constructor(
    seed: number,
    private readonly joinP = 0.05,
    private readonly life: [number, number] = [5, 125],
    private readonly maxLive = 4,
    private readonly vocab = 290,
  ) {
    this.s = seed;
  }

  private next(): number {
    this.s = (this.s * 1103515245 + 12345) >>> 0;
    return this.s / 2 ** 32;
  }

  async run(runner: DecoderRunner): Promise<RunLogits> {
    if (this.left.size < this.maxLive && (this.left.size === 0 || this.next() < this.joinP)) {
      const id = this.nextId++;
      this.left.set(id, this.life[0] + Math.floor(this.next() * (this.life[1] - this.life[0])));
      return runner.run([{ seqId: id, tokens: Int32Array.from({ length: 1 + Math.floor(this.next() * 6) }, () => 3 + Math.floor(this.next() * this.vocab)) }]);
    }
    const ids = [...this.left.keys()];
    const logits = await runner.run(ids.map((seqId) => ({ seqId, tokens: Int32Array.of(3 + Math.floor(this.next() * this.vocab)) })));
    this.decodeRuns++;
    for (const id of ids) {
      const n = this.left.get(id)! - 1;
      if (n > 0) this.left.set(id, n);
      else {
        this.left.delete(id);
        runner.release(id);
      }
    }
    return logits;
  }
}

async function load(dir: string, ep: ExecutionProvider): Promise<LoadedDecoder | { status: string; code: string; message: string }> {
  try {
    return await loadDecoder(dir, { ep, deviceId: 0, threads: threadsFor(ep).threads });
  } catch (err) {
    return { status: 'unavailable', ...errorText(err) };
  }
}

/** The provider's logits against the CPU's over the same schedule (joins, leaves, re-layouts on the device). */
async function checkChild(ep: ExecutionProvider): Promise<unknown> {
  const dir = join(resolve(args.models!), 'base');
  const dev = await load(dir, ep);
  if (!('runner' in dev)) return { ep, ...dev };
  const cpu = await load(dir, 'cpu');
  if (!('runner' in cpu)) return { ep, status: 'cpu reference unavailable', message: cpu.message };
  // Frequent joins and short lives: the batch changes often, so the cache is laid out again on the device.
  const a = new Schedule(7, 0.35, [2, 10]);
  const b = new Schedule(7, 0.35, [2, 10]);
  let worst = 0;
  let scale = 0;
  let sameArgmax = 0;
  let rows = 0;
  let nonFinite = 0;
  for (let i = 0; i < Number(args['check-runs']); i++) {
    const x = await a.run(dev.runner);
    const y = await b.run(cpu.runner);
    for (let r = 0; r < x.rows; r++) {
      const xr = x.data.subarray(r * x.vocab, (r + 1) * x.vocab);
      const yr = y.data.subarray(r * y.vocab, (r + 1) * y.vocab);
      let ax = 0;
      let ay = 0;
      for (let j = 0; j < xr.length; j++) {
        if (!Number.isFinite(xr[j])) nonFinite++;
        worst = Math.max(worst, Math.abs(xr[j] - yr[j]));
        scale = Math.max(scale, Math.abs(yr[j]));
        if (xr[j] > xr[ax]) ax = j;
        if (yr[j] > yr[ay]) ay = j;
      }
      rows++;
      if (ax === ay) sameArgmax++;
    }
  }
  const stats = dev.runner.tensorStats;
  await dev.runner.dispose();
  await cpu.runner.dispose();
  const after = dev.runner.tensorStats;
  await dev.runner.session.release();
  await cpu.runner.session.release();
  return {
    ep, status: 'ran', runs: Number(args['check-runs']), rows, maxAbsDiff: worst, maxAbsLogit: scale, sameArgmax, nonFinite,
    deviceTensorsCreated: stats.deviceCreated, graphGathers: stats.graphGathers, hostGathers: stats.hostGathers, liveAfterRelease: after.live,
  };
}

/** 10,000 decode steps on one runner: live tensors sampled every 1000 steps must not grow, and end at zero. */
async function growthChild(ep: ExecutionProvider): Promise<unknown> {
  const dir = join(resolve(args.models!), 'reasoners', 'r1');
  const model = await load(dir, ep);
  if (!('runner' in model)) return { ep, ...model };
  const steps = Number(args['growth-steps']);
  const schedule = new Schedule(11);
  const samples: Record<string, number>[] = [];
  const t0 = performance.now();
  const deadline = t0 + Number(args['growth-max-s']) * 1000;
  let mark = 1000;
  while (schedule.decodeRuns < steps && performance.now() < deadline) {
    await schedule.run(model.runner);
    if (schedule.decodeRuns >= mark) {
      const s = model.runner.tensorStats;
      samples.push({ step: schedule.decodeRuns, live: s.live, deviceLive: s.deviceLive, liveLayouts: s.liveLayouts, created: s.created, disposed: s.disposed });
      mark += 1000;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const done = schedule.decodeRuns;
  const before = model.runner.tensorStats;
  await model.runner.dispose();
  const after = model.runner.tensorStats;
  await model.runner.session.release();
  const lives = samples.map((s) => s.live);
  const firstHalf = Math.max(...lives.slice(0, Math.ceil(lives.length / 2)));
  const secondHalf = Math.max(...lives.slice(Math.ceil(lives.length / 2)));
  return {
    ep, status: 'ran', steps: done, stoppedEarly: done < steps, seconds, msPerStep: (seconds * 1000) / done, samples,
    kvGather: model.runner.kvGather, graphGathers: before.graphGathers, hostGathers: before.hostGathers,
    created: after.created, disposed: after.disposed, deviceCreated: after.deviceCreated, deviceDisposed: after.deviceDisposed,
    liveAfterRelease: after.live, liveLayoutsAfterRelease: after.liveLayouts,
    bounded: secondHalf <= firstHalf, ok: secondHalf <= firstHalf && after.live === 0 && after.created === after.disposed,
  };
}

// ---------------------------------------------------------------- parent

const deadline = Number(args['deadline-s']) > 0 ? Date.now() + Number(args['deadline-s']) * 1000 : Infinity;

function runChild(kind: string, ep: ExecutionProvider): Promise<unknown> {
  const left = deadline - Date.now();
  if (left < 30_000) return Promise.resolve({ ep, status: 'skipped', message: `--deadline-s ${args['deadline-s']} reached before it could start` });
  const script = ep === 'cuda' && args['cuda-root'] ? join(resolve(args['cuda-root']), 'dist', 'bench', 'gpu.js') : fileURLToPath(import.meta.url);
  const forward = ['models', 'batches', 'tokens', 'prompt', 'growth-steps', 'growth-max-s', 'check-runs', 'fusion-sites', 'fusion-rounds'].flatMap((k) => [`--${k}`, String(args[k as keyof typeof args])]);
  const argv = [...process.execArgv, script, ...forward, '--child', kind, '--ep', ep];
  return new Promise((resolveChild) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let result: unknown = null;
    let tail = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.min(Number(args['child-timeout']) * 1000, left));
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      // Whole lines only: a result line can arrive in several chunks.
      const lines = (pending + d.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith(MARK)) {
          if (line) process.stderr.write(`  [${kind} ${ep}] ${line}\n`);
          continue;
        }
        try {
          result = JSON.parse(line.slice(MARK.length));
        } catch {
          process.stderr.write(`  [${kind} ${ep}] unreadable result line (${line.length} characters)\n`);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-2000);
      process.stderr.write(d.toString().split('\n').filter(Boolean).map((l) => `  [${kind} ${ep}] ${l}\n`).join(''));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const last = tail.split('\n').filter(Boolean).slice(-3).join(' | ');
      if (result === null) resolveChild({ ep, status: 'crashed', code, signal, message: last });
      else if ((result as { partial?: boolean }).partial) resolveChild({ ...(result as object), crashed: { code, signal, message: last } });
      else resolveChild(result);
    });
  });
}

function table(headers: string[], rows: (string | number)[][]): string {
  const fmt = (c: string | number) =>
    typeof c !== 'number' || Number.isInteger(c) ? String(c) : Math.abs(c) >= 100 ? c.toFixed(0) : Math.abs(c) >= 10 ? c.toFixed(1) : c.toFixed(2);
  const cells = [headers, ...rows.map((r) => r.map(fmt))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(cells[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

function gpuName(): string | null {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

async function parent(): Promise<void> {
  if (!args.models) throw new Error('--models DIR is required (made by training/make_gpu_model.py)');
  const eps = args.eps!.split(',').filter(Boolean) as ExecutionProvider[];
  for (const ep of eps) if (!EPS.includes(ep)) throw new Error(`--eps: unknown provider ${ep}`);
  const started = new Date().toISOString();
  const decode: any[] = [];
  const check: any[] = [];
  const growth: any[] = [];
  const growthEps = args['growth-eps']!.split(',').filter(Boolean) as ExecutionProvider[];
  const runGrowth = async (ep: ExecutionProvider) => {
    process.stderr.write(`== ${ep}: growth over ${args['growth-steps']} steps\n`);
    growth.push(await runChild('growth', ep));
  };
  // In the order given (the most wanted first, in case --deadline-s cuts the run short).
  for (const ep of eps) {
    process.stderr.write(`== ${ep}: decode\n`);
    decode.push(await runChild('decode', ep));
    if (growthEps.includes(ep)) await runGrowth(ep);
    if (ep !== 'cpu' && (decode.at(-1) as { status: string }).status === 'ran') {
      process.stderr.write(`== ${ep}: check against cpu\n`);
      check.push(await runChild('check', ep));
    }
  }
  for (const ep of growthEps.filter((e) => !eps.includes(e))) await runGrowth(ep);
  const report = {
    started,
    command: process.argv.slice(1).join(' '),
    host: { gpu: gpuName(), cpu: cpus()[0]?.model ?? null, cores, node: process.version, onnxruntime: ort.env.versions?.common ?? null },
    decode,
    check,
    growth,
  };

  const rows = decode.flatMap((d) => (d.status === 'ran' ? d.rows : []) as DecodeRow[]);
  console.log(`\nGPU: ${report.host.gpu ?? 'none (nvidia-smi not found)'}; CPU: ${report.host.cpu} x${cores}; node ${process.version}`);
  console.log(`model: ${args.models}; prompt ${args.prompt} tokens, ${args.tokens} new tokens per sequence; ms are per step\n`);
  console.log(table(
    ['ep', 'fusion', 'round', 'batch', 'module', 'tokens/s', 'ms/step', 'ORT run', '(copies est.)', 'feeds+relayout', 'module wait', 'fusion+sampling', 'other'],
    rows.map((r) => [r.ep, r.fusion, r.round, r.batch, r.module ? 'yes' : 'no', r.tokensPerS, r.msPerStep, r.ortMs, r.copyEstMs, r.layoutMs, r.moduleWaitMs, r.sampleMs, r.otherMs]),
  ));
  for (const d of decode) {
    for (const q of d.ratios ?? []) {
      console.log(`${d.ep} fusion on the device / on the host, tokens/s, batch ${q.batch}${q.module ? ' + module' : ''}, round ${q.round}: ${q.deviceOverHost.toFixed(3)}`);
    }
  }
  for (const d of decode) {
    if (d.status !== 'ran') console.log(`${d.ep}: ${d.status}: ${d.message ?? ''}`);
    for (const e of d.errors ?? []) console.log(`${d.ep} (${e.fusion} fusion) batch ${e.batch}${e.module ? ' + module' : ''}: failed: ${e.message}`);
    if (d.crashed) console.log(`${d.ep}: the process ended early (code ${d.crashed.code}, signal ${d.crashed.signal}): ${d.crashed.message}`);
  }
  for (const c of check) {
    console.log(c.status === 'ran'
      ? `check ${c.ep} vs cpu: ${c.rows} rows, same argmax ${c.sameArgmax}/${c.rows}, max |diff| ${c.maxAbsDiff.toFixed(4)} (logits up to ${c.maxAbsLogit.toFixed(2)}), non-finite ${c.nonFinite}; device tensors ${c.deviceTensorsCreated}, re-layouts on the device ${c.graphGathers}, on the host ${c.hostGathers}; live after release ${c.liveAfterRelease}`
      : `check ${c.ep}: ${c.status}: ${c.message}`);
  }
  for (const g of growth) {
    console.log(g.status === 'ran'
      ? `growth ${g.ep}: ${g.steps} decode steps${g.stoppedEarly ? ` (stopped at --growth-max-s ${args['growth-max-s']})` : ''} in ${g.seconds.toFixed(1)} s (${g.msPerStep.toFixed(2)} ms/step); live tensors every 1000 steps: ${g.samples.map((s: { live: number }) => s.live).join(' ')}; ` +
        `created ${g.created} (on the device ${g.deviceCreated}), disposed ${g.disposed} (on the device ${g.deviceDisposed}); re-layouts ${g.kvGather === 'host' ? '' : `graph ${g.graphGathers}, `}host ${g.hostGathers}; ` +
        `after release: ${g.liveAfterRelease} live, ${g.liveLayoutsAfterRelease} layouts -> ${g.ok ? 'OK' : 'GROWTH OR LEAK'}`
      : `growth ${g.ep}: ${g.status}: ${g.message}`);
  }
  const json = JSON.stringify(report, null, 1);
  if (args.json) writeFileSync(args.json, json);
  if (process.env.OUT) writeFileSync(join(process.env.OUT, 'gpu-bench.json'), json);
}

async function main(): Promise<void> {
  if (!args.child) return parent();
  const ep = args.ep as ExecutionProvider;
  const run = { decode: decodeChild, check: checkChild, growth: growthChild }[args.child];
  if (!run) throw new Error(`unknown --child ${args.child}`);
  let result: unknown;
  try {
    result = await run(ep);
  } catch (err) {
    result = { ep, status: 'failed', ...errorText(err) };
  }
  report(result);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
