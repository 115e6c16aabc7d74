import { MessageChannel, type Worker } from 'node:worker_threads';
import { deserializeError, UnirError, type SerializedError } from '../common/errors.js';
import type { EngineClient } from '../engine/engine-client.js';
import type { ModelSummary } from '../engine/model-summary.js';
import type { ModulePlacement } from '../engine/device-owner.js';
import type { ModuleLoad } from '../engine/protocol.js';
import { spawnWorker } from '../engine/spawn-worker.js';
import type { FromModuleHost, ToModuleHost } from './module-worker.js';

/** Where module versions are loaded and run (see engine/device-owner.ts for which host a provider gets). */
export interface ModuleHost {
  readonly placement: ModulePlacement;
  /**
   * Loads a version where it will run and attaches it to the engine; resolves with its summary. `onExit` is
   * called if the thread that runs it ends on its own afterwards (a crash), with the reason.
   */
  load(load: ModuleLoad, onExit: (reason: string) => void, signal?: AbortSignal): Promise<ModelSummary>;
  /** Releases a version's session and caches; the engine has detached it already (or never attached it). */
  unload(versionId: number): Promise<void>;
  close(): Promise<void>;
}

export function createModuleHost(placement: ModulePlacement, engine: EngineClient): ModuleHost {
  return placement === 'engine-thread' ? new EngineThreadHost(engine) : new WorkerHost(placement, engine);
}

/** Modules beside the base in the engine thread: detaching a version there releases it too. */
class EngineThreadHost implements ModuleHost {
  readonly placement = 'engine-thread';
  constructor(private readonly engine: EngineClient) {}
  async load(load: ModuleLoad, _onExit: (reason: string) => void, signal?: AbortSignal): Promise<ModelSummary> {
    await checkTokenizerApart(load, signal);
    const loaded = this.engine.loadModule({ ...load, tokenizerChecked: true });
    if (!signal) return loaded;
    // A load given up on (its deadline): the engine drops the version, now or when its load ends.
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.engine.detachModule(load.versionId);
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      loaded.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }
  async unload(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Own workers kept idle for the next version; beyond them an unloaded version's worker ends. */
const MAX_IDLE_WORKERS = 2;
/** How long a stop waits for a worker busy in native code (ONNX Runtime building a session) before moving on. */
const TERMINATE_WAIT_MS = 2000;

/**
 * 'own-worker': a worker per version, reused by a later version once this one is unloaded (its session freed).
 * 'device-worker': one worker for all, told to unload. Reuse matters for memory: a thread that ends leaves what
 * glibc's malloc gave it behind, fragmented in the arena it used (measured: RSS 348 -> 522 MiB over 50 hot
 * replacements, one new thread each, still growing; bench/hot-swap-memory.ts). A reused thread's next session
 * allocates in the same arena, into the space the previous one freed.
 */
class WorkerHost implements ModuleHost {
  private shared: Worker | null = null;
  private readonly workers = new Map<number, Worker>();
  private readonly exits = new Map<number, (reason: string) => void>();
  private readonly idle = new Set<Worker>();
  /** Each worker's releases asked for so far: it is ended only after they are done (each bounded). */
  private readonly releasing = new Map<Worker, Promise<void>>();

  constructor(
    readonly placement: Exclude<ModulePlacement, 'engine-thread'>,
    private readonly engine: EngineClient,
  ) {}

  async load(load: ModuleLoad, onExit: (reason: string) => void, signal?: AbortSignal): Promise<ModelSummary> {
    if (this.placement === 'device-worker') {
      // The shared worker runs every module of the device: it only creates the session.
      await checkTokenizerApart(load, signal);
      load = { ...load, tokenizerChecked: true };
    }
    const worker = this.placement === 'device-worker' ? this.sharedWorker() : this.spawn();
    const { port1, port2 } = new MessageChannel();
    const { versionId } = load;
    this.workers.set(versionId, worker);
    let summary: ModelSummary;
    try {
      summary = await new Promise<ModelSummary>((resolve, reject) => {
        const onMessage = (msg: FromModuleHost) => {
          if (msg.versionId !== versionId || msg.type === 'unloaded') return;
          off();
          if (msg.type === 'loaded') resolve(msg.summary);
          else reject(deserializeError(msg.error));
        };
        const onError = (err: Error) => (off(), reject(new UnirError('invalid_model_dir', `loading ${load.name} crashed its worker`, null, { detail: err.stack ?? err.message })));
        const onEnd = (code: number) => (off(), reject(new UnirError('invalid_model_dir', `loading ${load.name} ended its worker (code ${code})`)));
        const onAbort = () => (off(), reject(signal!.reason));
        const off = () => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onEnd);
          signal?.removeEventListener('abort', onAbort);
        };
        worker.on('message', onMessage);
        worker.once('error', onError);
        worker.once('exit', onEnd);
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        worker.postMessage({ type: 'load', load, port: port2 } satisfies ToModuleHost, [port2]);
      });
    } catch (err) {
      port1.close();
      // A worker whose load failed, or was given up on while it may still be busy, is not reused.
      await this.unload(versionId, false);
      throw err;
    }
    this.exits.set(versionId, onExit);
    this.engine.attachModule(versionId, load.name, port1, summary);
    return summary;
  }

  async unload(versionId: number, reuse = true): Promise<void> {
    const worker = this.workers.get(versionId);
    this.workers.delete(versionId);
    this.exits.delete(versionId);
    if (!worker) return;
    const released = this.release(worker, versionId);
    if (worker === this.shared) return;
    if (reuse && this.idle.size < MAX_IDLE_WORKERS) this.idle.add(worker);
    else {
      await released;
      this.releasing.delete(worker);
      await stopWorker(worker);
    }
  }

  async close(): Promise<void> {
    const all = new Set([...this.workers.values(), ...this.idle]);
    for (const [versionId, worker] of this.workers) void this.release(worker, versionId);
    this.workers.clear();
    this.exits.clear();
    this.idle.clear();
    this.shared = null;
    await Promise.all([...all].map(async (w) => (await this.releasing.get(w), this.releasing.delete(w), stopWorker(w))));
  }

  /**
   * Tells the worker to release the version's session and resolves when it says it has (or TERMINATE_WAIT_MS
   * later, or when it exits). Ending a worker while ONNX Runtime still runs or releases a session in it lets the
   * binding's callback throw into a torn-down environment, and that aborts the whole process ("terminate called
   * after throwing an instance of 'Napi::Error'": SIGTERM during a load on Node 24).
   */
  private release(worker: Worker, versionId: number): Promise<void> {
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(finish, TERMINATE_WAIT_MS).unref();
      function onMessage(msg: FromModuleHost): void {
        if (msg.type === 'unloaded' && msg.versionId === versionId) finish();
      }
      function finish(): void {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', finish);
        resolve();
      }
      worker.on('message', onMessage);
      worker.once('exit', finish);
    });
    const earlier = this.releasing.get(worker);
    this.releasing.set(worker, earlier ? Promise.all([earlier, done]).then(() => undefined) : done);
    worker.postMessage({ type: 'unload', versionId } satisfies ToModuleHost);
    return done;
  }

  private sharedWorker(): Worker {
    this.shared ??= this.spawn();
    return this.shared;
  }

  private spawn(): Worker {
    const [reused] = this.idle;
    if (reused) {
      this.idle.delete(reused);
      return reused;
    }
    const worker = spawnWorker('./module-worker', import.meta.url, {});
    this.watch(worker);
    return worker;
  }

  /** Every version a worker ran learns of its end, unless it was unloaded first. */
  private watch(worker: Worker): void {
    let crash = '';
    worker.on('error', (err) => (crash = err.message));
    worker.once('exit', (code) => {
      if (this.shared === worker) this.shared = null;
      this.releasing.delete(worker);
      this.idle.delete(worker);
      for (const [id, w] of [...this.workers]) {
        if (w !== worker) continue;
        this.workers.delete(id);
        const onExit = this.exits.get(id);
        this.exits.delete(id);
        onExit?.(crash ? `worker crashed: ${crash}` : `module worker exited (code ${code})`);
      }
    });
  }
}

/** Ends a worker; one busy in native code ends only when that call returns, so this waits for it at most a while. */
async function stopWorker(worker: Worker): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_WAIT_MS).unref()));
  await Promise.race([worker.terminate().then(() => undefined), gaveUp]);
  clearTimeout(timer);
}

/**
 * The tokenizer check in a short-lived worker of its own (seconds for a large vocabulary): no device thread waits.
 * A load given up on (`signal`) ends the check's worker.
 */
function checkTokenizerApart(load: ModuleLoad, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const worker = spawnWorker('./tokenizer-check-worker', import.meta.url, { workerData: { name: load.name, dir: load.dir, baseDir: load.baseDir } });
    const onAbort = () => {
      reject(signal!.reason);
      void stopWorker(worker);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('exit', () => signal?.removeEventListener('abort', onAbort));
    worker.once('message', (error: SerializedError | null) => (error ? reject(deserializeError(error)) : resolve()));
    worker.once('error', (err) => reject(new UnirError('invalid_model_dir', `checking the tokenizer of ${load.name} crashed its worker: ${err.message}`)));
    // After a message this settles nothing; without one, the worker ended before answering.
    worker.once('exit', (code) => reject(new UnirError('invalid_model_dir', `checking the tokenizer of ${load.name} ended its worker (code ${code})`)));
  });
}
