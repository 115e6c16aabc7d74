/**
 * Worker entry for the engine: the step loop, the base model (run here, so base-only steps need no message
 * round trip), fusion and sampling. The main thread only speaks HTTP; this thread never does.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../common/errors.js';
import { loadDecoder } from '../models/load-decoder.js';
import { TextTokenizer } from '../models/text-tokenizer.js';
import { LocalModelRunner } from './model-runner.js';
import { summarize } from './model-summary.js';
import type { EngineOptions, FromEngine, ToEngine } from './protocol.js';
import type { DoneEvent, GenerationRequest } from './generation-request.js';
import { RemoteModelRunner } from './remote-model-runner.js';
import { GrammarHost } from './grammar-host.js';
import { Scheduler } from './scheduler.js';

const options = workerData as EngineOptions;
const port = parentPort!;
const post = (msg: FromEngine) => port.postMessage(msg);

async function main(): Promise<void> {
  let autoNote: string | null = null;
  const base = await loadDecoder(options.baseDir, options.session, (ep, skipped) => {
    autoNote = skipped.length > 0 ? `chose ${ep}; skipped ${skipped.join('; ')}` : `chose ${ep}`;
  });
  const tokenizer = TextTokenizer.load(base.files, base.config);
  const scheduler = new Scheduler(
    new LocalModelRunner(base.runner),
    tokenizer,
    {
      maxBatch: options.maxBatch,
      prefillChunk: options.prefillChunk,
      maxContext: Math.min(options.maxContext, base.config.maxPositions),
      vocab: base.signature.vocabSize,
    },
    (events) => post({ type: 'events', events }),
  );
  const remotes = new Map<number, RemoteModelRunner>();
  const grammars = new GrammarHost(base.files.tokenizer, base.signature.vocabSize, tokenizer.eosTokenIds);
  port.on('message', (msg: ToEngine) => {
    switch (msg.type) {
      case 'submit':
        if (!msg.request.grammar) scheduler.submit(msg.seqId, msg.request);
        else submitWithGrammar(msg.seqId, msg.request);
        break;
      case 'compile-grammar':
        grammars.compile(msg.spec).then(
          () => post({ type: 'grammar-compiled', requestId: msg.requestId, error: null }),
          (err) => post({ type: 'grammar-compiled', requestId: msg.requestId, error: serializeError(err) }),
        );
        break;
      case 'cancel':
        scheduler.cancel(msg.seqId);
        break;
      case 'attach-module': {
        const runner = new RemoteModelRunner(msg.port, msg.summary.dir);
        remotes.set(msg.versionId, runner);
        scheduler.attachModule(msg.versionId, runner);
        break;
      }
      case 'detach-module':
        scheduler.detachModule(msg.versionId);
        remotes.get(msg.versionId)?.close();
        remotes.delete(msg.versionId);
        break;
      case 'stats':
        post({ type: 'stats', requestId: msg.requestId, stats: scheduler.snapshot() });
        break;
      case 'shutdown':
        scheduler.stop();
        void base.runner
          .dispose()
          .then(() => base.runner.session.release())
          .finally(() => port.close());
        break;
    }
  });
  // xgrammar's calls are synchronous inside their promises, so the matcher is ready before the next message.
  const submitWithGrammar = (seqId: number, request: GenerationRequest) =>
    grammars.processorFor(request).then(
      (processor) => scheduler.submit(seqId, request, processor),
      (err) => {
        const done: DoneEvent = { kind: 'done', seqId, finishReason: 'error', text: '', stopReason: null, promptTokens: request.promptIds.length, completionTokens: 0, queueMs: 0, error: serializeError(err) };
        post({ type: 'events', events: [done] });
      },
    );
  post({ type: 'ready', base: { ...summarize(base), autoNote } });
  await scheduler.loop();
}

main().catch((err) => post({ type: 'fatal', error: serializeError(err) }));
