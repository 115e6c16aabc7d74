/**
 * Worker entry for one reasoning module version: loads it (off the event loop), checks it against the base,
 * then runs it for the engine over a MessagePort and keeps its per-sequence KV caches.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { serializeError, UnirError } from '../common/errors.js';
import { loadDecoder, type LoadedDecoder } from '../models/load-decoder.js';
import { locateModelFiles } from '../models/model-files.js';
import { readModelConfig } from '../models/model-config.js';
import { TextTokenizer } from '../models/text-tokenizer.js';
import type { SessionSettings } from '../models/execution-provider.js';
import type { FromModelWorker, ToModelWorker } from '../engine/protocol.js';
import { summarize } from '../engine/model-summary.js';
import { tokenizerMismatch } from './tokenizer-compatibility.js';

export interface ModuleWorkerData {
  name: string;
  dir: string;
  session: SessionSettings;
  baseDir: string;
  port: MessagePort;
}

export type FromModuleWorker =
  | { type: 'loaded'; summary: ReturnType<typeof summarize> }
  | { type: 'load-failed'; error: ReturnType<typeof serializeError> };

const data = workerData as ModuleWorkerData;

async function load(): Promise<LoadedDecoder> {
  const files = locateModelFiles(data.dir);
  const baseFiles = locateModelFiles(data.baseDir);
  const mismatch = tokenizerMismatch(
    TextTokenizer.load(baseFiles, readModelConfig(baseFiles)),
    TextTokenizer.load(files, readModelConfig(files)),
  );
  if (mismatch) throw new UnirError('incompatible_reasoner', `reasoning module ${data.name} (${data.dir}) is not compatible with the base: ${mismatch}`);
  return loadDecoder(data.dir, data.session);
}

function serve(model: LoadedDecoder, port: MessagePort): void {
  // Runs are serialized: the runner's layouts change with every run.
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (msg: ToModelWorker) => {
    if (msg.type === 'release') {
      queue = queue.then(() => msg.seqIds.forEach((id) => model.runner.release(id)));
      return;
    }
    if (msg.type === 'isolate') {
      queue = queue.then(async () => {
        for (const id of msg.seqIds) await model.runner.isolate(id);
      }).catch(() => undefined);
      return;
    }
    queue = queue.then(async () => {
      let reply: FromModelWorker;
      const transfer: ArrayBuffer[] = [];
      try {
        const logits = await model.runner.run(msg.rows);
        // The logits buffer may be shared with ORT's output; a copy of exactly rows × vocab can be moved.
        const own = new Float32Array(logits.data);
        transfer.push(own.buffer);
        reply = { type: 'run-result', runId: msg.runId, logits: own, rows: logits.rows, vocab: logits.vocab, ortMs: model.runner.lastTiming.ortMs };
      } catch (err) {
        reply = { type: 'run-error', runId: msg.runId, error: serializeError(err) };
      }
      port.postMessage(reply, transfer);
    });
  });
}

load().then(
  (model) => {
    serve(model, data.port);
    parentPort!.postMessage({ type: 'loaded', summary: summarize(model) } satisfies FromModuleWorker);
  },
  (err) => parentPort!.postMessage({ type: 'load-failed', error: serializeError(err) } satisfies FromModuleWorker),
);
