import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { ReasonerRegistry, type ReasonerSelection } from '../adapters/reasoner-registry.js';
import { startReasonerWatch, type ReasonerWatcher } from '../adapters/reasoner-watch.js';
import { loadReasonersAtStart } from '../adapters/startup-reasoners.js';
import { UnirError } from '../common/errors.js';
import { EngineClient } from '../engine/engine-client.js';
import type { ModelSummary } from '../engine/model-summary.js';
import { mayUseWebGpu, softwareAdapterNote, webgpuAdapter, type SessionSettings } from '../models/execution-provider.js';
import { ChatTemplate } from '../models/chat-template.js';
import { loadSamplingDefaults } from '../models/generation-defaults.js';
import { readModelConfig } from '../models/model-config.js';
import { locateModelFiles } from '../models/model-files.js';
import { TextTokenizer } from '../models/text-tokenizer.js';
import { AppContext, type ModelRuntime } from './app-context.js';
import { buildApp } from './app.js';
import { Lifecycle } from './lifecycle.js';
import { Metrics } from './metrics.js';
import { watchesModulesRoot, type ServerOptions } from './options.js';
import { TextPool } from './text-pool.js';

export interface RunningServer {
  ctx: AppContext;
  url: string;
  /** Resolves when the model and the start-up modules are loaded; rejects if the base cannot load. */
  ready: Promise<void>;
  /**
   * Drains (bounded by --drain-timeout), then stops HTTP, modules and the engine. `watcherStopped` false: the
   * modules root watcher was still waiting on the file system (a volume that does not answer), and one of libuv's
   * threads with it; process.exit() would wait for that thread.
   */
  close(): Promise<{ watcherStopped: boolean }>;
}

/** Listens first (so /health and /ready answer during a long load), then loads the model and the modules. */
export async function startServer(options: ServerOptions, logger?: Logger): Promise<RunningServer> {
  const log = logger ?? pino({ level: options.logLevel, base: { service: 'unir-serve' } });
  const lifecycle = new Lifecycle();
  const metrics = new Metrics();
  const modelId = options.servedModelName ?? basename(resolve(options.model));
  const ctx = new AppContext(options, log, lifecycle, metrics, modelId);
  const app = await buildApp(ctx);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  log.info({ url, model: options.model }, 'listening; loading the model');

  let watcher: ReasonerWatcher | null = null;
  let closing: Promise<{ watcherStopped: boolean }> | null = null;
  const ready = loadRuntime(options, log, metrics).then(async (runtime) => {
    ctx.setRuntime(runtime);
    if (watchesModulesRoot(options) && !closing) {
      watcher = await startReasonerWatch(options.reasonersDir, runtime.registry, log, { pollMs: (options.watchPoll ?? 0) * 1000 });
    }
    if (closing) await watcher?.stop();
    lifecycle.ready = true;
    const { ep } = runtime.engine.base;
    // One WebGPU adapter per process: named whenever the base or the modules run on it.
    const adapter = runtime.engine.base.adapter ?? runtime.registry.adapter;
    log.info(
      {
        model: modelId,
        ep,
        adapter,
        moduleEp: runtime.registry.moduleEp,
        modulePlacement: runtime.registry.placement,
        reasoners: runtime.registry.names(),
        onnx: onnxLogFields(runtime.engine.base),
        generation_defaults: runtime.generationDefaults.defaults,
        generation_config: runtime.generationDefaults.source,
        ...(options.noUi ? {} : { playground: `${url}/` }),
      },
      'ready',
    );
  });

  const close = () =>
    (closing ??= (async () => {
      // Module loads are not drained: they end now (503 shutting_down), or the HTTP server would wait for them.
      ctx.loaded?.registry.stopLoading();
      // Draining starts at once. Stopping the watcher waits for its poll or load under way, which never ends while
      // a network volume does not answer (an NFS hard mount): it runs beside the drain, and is waited for only so long.
      lifecycle.draining = true;
      const watcherStopped = watcher ? settlesWithin(watcher.stop(), WATCHER_STOP_MS) : true;
      const drained = await lifecycle.waitIdle(options.drainTimeout * 1000);
      if (!drained) {
        log.warn({ inFlight: lifecycle.inFlight }, 'drain timeout: cancelling the requests in flight');
        // Cancelled sequences leave the batch within a step and their responses end with shutting_down;
        // until then HTTP cannot close (app.close() waits for responses in progress).
        lifecycle.cut();
        await lifecycle.waitIdle(5000);
      }
      // Backstop: a connection still open after this (a stuck client, a socket) is cut.
      const force = setTimeout(() => app.server.closeAllConnections(), 5000);
      // A keep-alive connection whose last response ends after close() began stays open (Node closes idle ones
      // only when close() is called): close them as they become idle.
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      await app.close();
      clearInterval(reaper);
      clearTimeout(force);
      const stopped = await watcherStopped;
      if (!stopped) log.warn({ root: options.reasonersDir, waitedMs: WATCHER_STOP_MS }, 'the modules root watcher did not stop (the file system does not answer): closing without it');
      const rt = ctx.loaded;
      if (rt) {
        await rt.registry.close();
        await rt.text.close();
        await rt.engine.close();
      }
      return { watcherStopped: stopped };
    })());
  return { ctx, url, ready, close };
}

/** How long shutdown waits, from its start, for the modules root watcher's poll or load under way. */
const WATCHER_STOP_MS = 5000;

/** Whether `p` settles within `ms`. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([p.then(() => true, () => true), late]).finally(() => clearTimeout(timer));
}

async function loadRuntime(options: ServerOptions, log: Logger, metrics: Metrics): Promise<ModelRuntime> {
  const t0 = performance.now();
  const onnx = { dtype: options.dtype, onnxFile: options.onnxFile };
  const files = locateModelFiles(options.model, onnx);
  const config = readModelConfig(files);
  const tokenizer = TextTokenizer.load(files, config);
  // The text workers build their own template from the source.
  const chatTemplateSource = options.chatTemplate ? await readFile(options.chatTemplate, 'utf8') : tokenizer.chatTemplate;
  const chatTemplate = chatTemplateSource ? new ChatTemplate(chatTemplateSource, { bos_token: tokenizer.bosToken, eos_token: tokenizer.eosToken }) : null;
  // Before the engine starts: a bad value fails fast.
  const generationDefaults = loadSamplingDefaults(options.generationConfig, files);
  // The adapter is probed once here (a child process) and handed to the threads that create WebGPU sessions.
  const shared: Partial<SessionSettings> = {
    allowSoftwareAdapter: options.allowSoftwareAdapter,
    ...(mayUseWebGpu(options.ep, options.moduleEp) ? { adapterProbe: await webgpuAdapter() } : {}),
    ...graphSettings(options),
  };
  const engine = await EngineClient.start({
    baseDir: files.dir,
    onnx,
    session: { ep: options.ep, deviceId: options.deviceId, threads: options.threads, ...shared },
    maxBatch: options.maxBatch,
    maxQueue: options.maxQueue,
    prefillChunk: options.prefillChunk,
    maxContext: options.maxModelLen ?? config.maxPositions,
    samplerThreads: options.samplerThreads ?? undefined,
    fusionSite: options.fusionSite,
  });
  if (engine.base.autoNote) log.info({ ep: engine.base.ep }, `--ep auto ${engine.base.autoNote}`);
  warnIdsBeyondRows(tokenizer, engine.base.vocabSize, log);
  if (engine.base.logitsNote) log[engine.base.logitsNote.level]({ model: options.model }, engine.base.logitsNote.message);
  metrics.modelLoadSeconds.set((performance.now() - t0) / 1000);
  const registry = new ReasonerRegistry(
    engine,
    files.dir,
    { ep: options.moduleEp ?? 'auto', deviceId: options.deviceId, threads: options.moduleThreads, logitsOnDevice: options.fusionSite === 'device', ...shared },
    {
      onLoad: (name, ok) => metrics.reasonerEvents.inc({ reasoner: name, event: ok ? 'load' : 'load_failed' }),
      onUnload: (name) => metrics.reasonerEvents.inc({ reasoner: name, event: 'unload' }),
      onRequest: (name) => metrics.reasonerRequests.inc({ reasoner: name }),
    },
    { modulesRoot: options.reasonersDir, loadTimeoutMs: options.moduleLoadTimeout * 1000 },
  );
  const adapter = engine.base.adapter ?? registry.adapter;
  if (adapter?.software) log.warn({ adapter }, softwareAdapterNote(adapter, options.allowSoftwareAdapter));
  await loadReasonersAtStart(registry, options, log);
  const defaultReasoners = parseDefaultReasoners(options.defaultReasoners);
  for (const d of defaultReasoners) {
    if (!registry.has(d.name)) log.error({ reasoner: d.name }, '--default-reasoners names a module that is not loaded: requests without "reasoners" will fail until it is');
  }
  const maxContext = Math.min(options.maxModelLen ?? config.maxPositions, config.maxPositions);
  const modelId = options.servedModelName ?? basename(resolve(options.model));
  const text = await TextPool.start(
    { tokenizer, chatTemplate, modelId, maxContext, maxCharsPerToken: tokenizer.maxCharsPerToken },
    { modelDir: files.dir, chatTemplate: chatTemplateSource, modelId, maxContext },
    options.textWorkers,
  );
  return { engine, tokenizer, chatTemplate, registry, text, maxContext, defaultReasoners, generationDefaults };
}

/** --graph-cache-dir (unset: the default directory, '': no cache) and --keep-all-logits. */
function graphSettings(options: ServerOptions): { graphCacheDir: string | null | undefined; rewriteLogitsGraph: boolean } {
  return { graphCacheDir: options.graphCacheDir === null ? undefined : options.graphCacheDir || null, rewriteLogitsGraph: !options.keepAllLogits };
}

/** The ready log's account of the graph served: file, bytes, external data, contrib operators, KV alignment. */
function onnxLogFields(base: ModelSummary) {
  const o = base.onnx;
  return { file: o.file, bytes: o.bytes, external_data: o.externalData, contrib_operators: o.contribOperators, kv_alignment: o.kvAlignment };
}

/**
 * A tokenizer may know ids the model has no logits row for (Gemma 3: id 262144 against 262,144 rows). Requests
 * whose prompt holds one are refused with 400; the operator hears of it once, at load.
 */
function warnIdsBeyondRows(tokenizer: TextTokenizer, rows: number, log: Logger): void {
  const beyond = tokenizer.idsFrom(rows);
  if (beyond.length === 0) return;
  log.warn(
    { logits_rows: rows, tokens: beyond.slice(0, 8).map((t) => ({ id: t.id, token: t.token })), count: beyond.length },
    `the tokenizer has ${beyond.length} token id${beyond.length > 1 ? 's' : ''} at or past the model's ${rows} logits rows; prompts that contain them are refused (400)`,
  );
}

/** "add,sort:0.5" → [{name: 'add'}, {name: 'sort', weight: 0.5}] */
export function parseDefaultReasoners(spec: string | null): ReasonerSelection[] {
  if (!spec) return [];
  return spec.split(',').filter(Boolean).map((part) => {
    const [name, weight] = part.split(':');
    if (weight === undefined) return { name };
    const w = Number(weight);
    if (!Number.isFinite(w)) throw new UnirError('invalid_request', `--default-reasoners: weight of ${name} is not a number (${weight})`);
    return { name, weight: w };
  });
}
