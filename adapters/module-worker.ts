/**
 * Worker entry for reasoning modules, one version at a time: loads it (off the event loop), checks it against the
 * base, then runs it for the engine over a MessagePort and keeps its per-sequence KV caches; on `unload`, frees
 * the session and caches and waits for the next version (ModuleThreads keeps the thread: see there why).
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
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

export type ToModuleWorker = { type: 'load'; data: ModuleWorkerData } | { type: 'unload' };

export type FromModuleWorker =
  | { type: 'loaded'; summary: ReturnType<typeof summarize> }
  | { type: 'load-failed'; error: ReturnType<typeof serializeError> }
  | { type: 'unloaded' };

async function load(data: ModuleWorkerData): Promise<LoadedDecoder> {
  const files = locateModelFiles(data.dir);
  const baseFiles = locateModelFiles(data.baseDir);
  const mismatch = tokenizerMismatch(
    TextTokenizer.load(baseFiles, readModelConfig(baseFiles)),
    TextTokenizer.load(files, readModelConfig(files)),
  );
  if (mismatch) throw new UnirError('incompatible_reasoner', `reasoning module ${data.name} (${data.dir}) is not compatible with the base: ${mismatch}`);
  return loadDecoder(data.dir, data.session);
}

interface Serving {
  model: LoadedDecoder;
  port: MessagePort;
  queue: Promise<void>;
}

function serve(model: LoadedDecoder, port: MessagePort): Serving {
  const serving: Serving = { model, port, queue: Promise.resolve() };
  // Runs are serialized: the runner's layouts change with every run.
  let queue: Promise<void> = Promise.resolve();
  const chain = (next: Promise<void>) => (serving.queue = queue = next);
  port.on('message', (msg: ToModelWorker) => {
    if (msg.type === 'release') {
      chain(queue.then(() => msg.seqIds.forEach((id) => model.runner.release(id))));
      return;
    }
    if (msg.type === 'isolate') {
      chain(queue.then(async () => {
        for (const id of msg.seqIds) await model.runner.isolate(id);
      }).catch(() => undefined));
      return;
    }
    chain(queue.then(async () => {
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
    }));
  });
  return serving;
}

let current: Serving | null = null;
const post = (msg: FromModuleWorker) => parentPort!.postMessage(msg);

parentPort!.on('message', (msg: ToModuleWorker) => {
  if (msg.type === 'load') {
    load(msg.data).then(
      (model) => {
        current = serve(model, msg.data.port);
        post({ type: 'loaded', summary: summarize(model) });
      },
      (err) => {
        msg.data.port.close();
        post({ type: 'load-failed', error: serializeError(err) });
      },
    );
    return;
  }
  const done = current;
  current = null;
  if (!done) return post({ type: 'unloaded' });
  done.port.close();
  void done.queue
    .catch(() => undefined)
    .then(() => done.model.runner.dispose())
    .then(() => done.model.runner.session.release())
    .finally(() => post({ type: 'unloaded' }));
});
