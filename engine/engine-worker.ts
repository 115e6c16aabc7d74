/**
 * Worker entry for the engine: the step loop, the base model (run here, so base-only steps need no message
 * round trip), fusion and sampling. The main thread only speaks HTTP; this thread never does. It is also the one
 * owner of the base's device when that provider must be driven from one thread (WebGPU): modules on the same
 * provider are loaded and run here too (see engine/device-owner.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModule } from '../adapters/load-module.js';
import { serializeError, UnirError } from '../common/errors.js';
import { loadDecoder } from '../models/load-decoder.js';
import { TextTokenizer } from '../models/text-tokenizer.js';
import { DeviceFusion } from './device-fusion.js';
import { LocalModelRunner, type ModelRunner } from './model-runner.js';
import { summarize } from './model-summary.js';
import type { EngineOptions, FromEngine, ModuleLoad, ToEngine } from './protocol.js';
import type { DoneEvent, FinishReason, GenerationRequest } from './generation-request.js';
import { RemoteModelRunner } from './remote-model-runner.js';
import { GrammarLink } from './grammar-link.js';
import { defaultSamplerThreads } from './sampler-threads.js';
import { Scheduler } from './scheduler.js';

const options = workerData as EngineOptions;
const port = parentPort!;
const post = (msg: FromEngine) => port.postMessage(msg);

async function main(): Promise<void> {
  let autoNote: string | null = null;
  const onDevice = options.fusionSite === 'device';
  const base = await loadDecoder(options.baseDir, { ...options.session, logitsOnDevice: onDevice }, {
    onnx: options.onnx,
    onAutoChoice: (ep, skipped) => {
      autoNote = skipped.length > 0 ? `chose ${ep}; skipped ${skipped.join('; ')}` : `chose ${ep}`;
    },
  });
  if (onDevice && base.ep !== 'webgpu') {
    await base.runner.session.release();
    throw new UnirError('invalid_request', `--fusion-site device keeps the logits on a WebGPU device; the base runs on ${base.ep} (use --ep webgpu, or --fusion-site host)`);
  }
  const fusion = onDevice ? new DeviceFusion('gpu-buffer', base.signature.vocabSize) : null;
  const tokenizer = TextTokenizer.load(base.files, base.config);
  const baseRunner = new LocalModelRunner(base.runner);
  const scheduler = new Scheduler(
    baseRunner,
    tokenizer,
    {
      maxBatch: options.maxBatch,
      prefillChunk: options.prefillChunk,
      maxContext: Math.min(options.maxContext, base.config.maxPositions),
      vocab: base.signature.vocabSize,
      samplerThreads: options.samplerThreads ?? defaultSamplerThreads(),
      samplerMinVocab: options.samplerMinVocab,
    },
    (events) => post({ type: 'events', events }),
    fusion,
    (health) => post({ type: 'health', health }),
  );
  const modules = new Map<number, ModelRunner>();

  const loading = new Set<number>();
  /** Loads given up on (their deadline passed) before they ended: freed when they end, never attached. */
  const abandoned = new Set<number>();

  const loadHere = async (load: ModuleLoad) => {
    loading.add(load.versionId);
    try {
      const model = await loadModule(load);
      const runner = new LocalModelRunner(model.runner, load.name);
      if (abandoned.delete(load.versionId)) {
        await runner.close();
        return;
      }
      modules.set(load.versionId, runner);
      scheduler.attachModule(load.versionId, runner, load.name);
      post({ type: 'module-loaded', versionId: load.versionId, summary: summarize(model) });
    } catch (err) {
      abandoned.delete(load.versionId);
      post({ type: 'module-load-failed', versionId: load.versionId, error: serializeError(err) });
    } finally {
      loading.delete(load.versionId);
    }
  };
  const detach = (versionId: number): Promise<void> => {
    if (loading.has(versionId)) abandoned.add(versionId);
    scheduler.detachModule(versionId);
    const runner = modules.get(versionId);
    modules.delete(versionId);
    return runner ? runner.close() : Promise.resolve();
  };

  let grammars: GrammarLink | null = null;
  /** Sequences whose grammar the grammar worker is compiling: not yet in the scheduler. */
  const awaitingGrammar = new Map<number, GenerationRequest>();

  const looping = scheduler.loop();
  port.on('message', (msg: ToEngine) => {
    switch (msg.type) {
      case 'submit':
        if (!msg.request.grammar) scheduler.submit(msg.seqId, msg.request);
        else submitWithGrammar(msg.seqId, msg.request);
        break;
      case 'attach-grammar':
        grammars?.detach();
        grammars = new GrammarLink(msg.port, () => scheduler.nudge());
        break;
      case 'cancel':
        if (awaitingGrammar.has(msg.seqId)) endEarly(msg.seqId, 'cancelled');
        else scheduler.cancel(msg.seqId);
        break;
      case 'pause':
        scheduler.setPaused(msg.seqId, msg.paused);
        break;
      case 'attach-module': {
        const runner = new RemoteModelRunner(msg.port, msg.name);
        modules.set(msg.versionId, runner);
        scheduler.attachModule(msg.versionId, runner, msg.name);
        break;
      }
      case 'load-module':
        void loadHere(msg.load);
        break;
      case 'detach-module':
        void detach(msg.versionId);
        break;
      case 'stats':
        post({ type: 'stats', requestId: msg.requestId, stats: { ...scheduler.snapshot(), deviceFusedRows: fusion?.fusedRows ?? 0 } });
        break;
      case 'shutdown':
        scheduler.stop();
        // The step in flight ends first: no session is released under a run.
        void looping
          .then(() => Promise.all([...modules.keys()].map(detach)))
          .then(() => fusion?.release())
          .then(() => baseRunner.close())
          .finally(() => {
            post({ type: 'closed' });
            port.close();
          });
        break;
    }
  });
  // A sequence joins the scheduler once its grammar is compiled and its first mask is ready, so a slow compile
  // (in the grammar worker) holds up no one else.
  const submitWithGrammar = (seqId: number, request: GenerationRequest) => {
    const stops = [...new Set([...(request.ignoreEos ? [] : tokenizer.eosTokenIds), ...request.stopTokenIds])];
    awaitingGrammar.set(seqId, request);
    if (!grammars) return endEarly(seqId, 'error', new UnirError('internal_error', 'a grammar request reached the engine before its grammar worker'));
    grammars.open(seqId, request.grammar!, stops).then(
      (grammar) => {
        if (awaitingGrammar.delete(seqId)) scheduler.submit(seqId, request, grammar);
        else grammar.dispose();
      },
      (err: UnirError) => {
        if (awaitingGrammar.has(seqId)) endEarly(seqId, 'error', err);
      },
    );
  };
  const endEarly = (seqId: number, reason: FinishReason, err?: UnirError) => {
    const request = awaitingGrammar.get(seqId)!;
    awaitingGrammar.delete(seqId);
    const done: DoneEvent = { kind: 'done', seqId, finishReason: reason, text: '', stopReason: null, promptTokens: request.promptIds.length, completionTokens: 0, queueMs: 0, ...(err ? { error: serializeError(err) } : {}) };
    post({ type: 'events', events: [done] });
  };
  post({ type: 'ready', base: { ...summarize(base), autoNote, tokenizerPath: base.files.tokenizer, eosTokenIds: [...tokenizer.eosTokenIds] } });
  await looping;
}

main().catch((err) => post({ type: 'fatal', error: serializeError(err) }));
