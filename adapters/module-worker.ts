/**
 * Worker entry that hosts reasoning module versions: loads each (off the event loop), checks it against the
 * base, then runs it for the engine over its own MessagePort and keeps its per-sequence KV caches. On the CPU
 * each version gets a worker of its own (modules run in parallel with the base); on a GPU provider that must be
 * driven from one thread (WebGPU), one such worker hosts every module of the device (see docs/gpu.md).
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { serializeError, type SerializedError } from '../common/errors.js';
import type { ModelSummary } from '../engine/model-summary.js';
import type { FromModelWorker, ModuleLoad, ToModelWorker } from '../engine/protocol.js';
import { summarize } from '../engine/model-summary.js';
import type { LoadedDecoder } from '../models/load-decoder.js';
import { loadModule } from './load-module.js';

export type ToModuleHost = { type: 'load'; load: ModuleLoad; port: MessagePort } | { type: 'unload'; versionId: number };

export type FromModuleHost =
  | { type: 'loaded'; versionId: number; summary: ModelSummary }
  | { type: 'load-failed'; versionId: number; error: SerializedError }
  /** Its session is released: the worker may now be ended without a native call left in flight. */
  | { type: 'unloaded'; versionId: number };

interface Hosted {
  model: LoadedDecoder;
  port: MessagePort;
  /** Runs and releases of this version, in order: the runner's layouts change with every run. */
  queue: Promise<void>;
}

const hosted = new Map<number, Hosted>();

function serve(versionId: number, model: LoadedDecoder, port: MessagePort): void {
  const h: Hosted = { model, port, queue: Promise.resolve() };
  hosted.set(versionId, h);
  port.on('message', (msg: ToModelWorker) => {
    if (msg.type === 'release') {
      h.queue = h.queue.then(() => msg.seqIds.forEach((id) => model.runner.release(id)));
      return;
    }
    if (msg.type === 'isolate') {
      h.queue = h.queue.then(async () => {
        for (const id of msg.seqIds) await model.runner.isolate(id);
      }).catch(() => undefined);
      return;
    }
    h.queue = h.queue.then(async () => {
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

/** Versions whose load is under way: true once the host has given up on one (it is unloaded when loaded). */
const loading = new Map<number, boolean>();

/**
 * After the runs already queued for it: its caches, graphs and session are released, its port closed. A version
 * still loading is released when its load ends: ONNX Runtime must not be building a session here when the host
 * ends this worker (its callback would throw into a torn-down environment and abort the process).
 */
function unload(versionId: number): void {
  if (loading.has(versionId)) {
    loading.set(versionId, true);
    return;
  }
  const h = hosted.get(versionId);
  if (!h) return post({ type: 'unloaded', versionId });
  hosted.delete(versionId);
  h.queue = h.queue.then(async () => {
    h.port.close();
    await h.model.runner.dispose();
    await h.model.runner.session.release().catch(() => undefined);
    post({ type: 'unloaded', versionId });
  });
}

function post(msg: FromModuleHost): void {
  parentPort!.postMessage(msg);
}

parentPort!.on('message', (msg: ToModuleHost) => {
  if (msg.type === 'unload') return unload(msg.versionId);
  const { versionId } = msg.load;
  loading.set(versionId, false);
  const givenUp = () => {
    const wanted = loading.get(versionId) === true;
    loading.delete(versionId);
    return wanted;
  };
  loadModule(msg.load).then(
    (model) => {
      const unloadNow = givenUp();
      serve(versionId, model, msg.port);
      post({ type: 'loaded', versionId, summary: summarize(model) });
      if (unloadNow) unload(versionId);
    },
    (err) => {
      const unloadNow = givenUp();
      msg.port.close();
      post({ type: 'load-failed', versionId, error: serializeError(err) });
      if (unloadNow) post({ type: 'unloaded', versionId });
    },
  );
});
