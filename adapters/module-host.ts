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
  load(load: ModuleLoad, onExit: (reason: string) => void): Promise<ModelSummary>;
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
  async load(load: ModuleLoad): Promise<ModelSummary> {
    await checkTokenizerApart(load);
    return this.engine.loadModule({ ...load, tokenizerChecked: true });
  }
  async unload(): Promise<void> {}
  async close(): Promise<void> {}
}

/** 'own-worker': a worker per version, ended on unload. 'device-worker': one worker for all, told to unload. */
class WorkerHost implements ModuleHost {
  private shared: Worker | null = null;
  private readonly workers = new Map<number, Worker>();
  private readonly exits = new Map<number, (reason: string) => void>();

  constructor(
    readonly placement: Exclude<ModulePlacement, 'engine-thread'>,
    private readonly engine: EngineClient,
  ) {}

  async load(load: ModuleLoad, onExit: (reason: string) => void): Promise<ModelSummary> {
    if (this.placement === 'device-worker') {
      // The shared worker runs every module of the device: it only creates the session.
      await checkTokenizerApart(load);
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
          if (msg.versionId !== versionId) return;
          off();
          if (msg.type === 'loaded') resolve(msg.summary);
          else reject(deserializeError(msg.error));
        };
        const onError = (err: Error) => (off(), reject(new UnirError('invalid_model_dir', `loading ${load.name} crashed its worker: ${err.message}`)));
        const onEnd = (code: number) => (off(), reject(new UnirError('invalid_model_dir', `loading ${load.name} ended its worker (code ${code})`)));
        const off = () => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onEnd);
        };
        worker.on('message', onMessage);
        worker.once('error', onError);
        worker.once('exit', onEnd);
        worker.postMessage({ type: 'load', load, port: port2 } satisfies ToModuleHost, [port2]);
      });
    } catch (err) {
      port1.close();
      await this.unload(versionId);
      throw err;
    }
    this.exits.set(versionId, onExit);
    this.engine.attachModule(versionId, port1, summary);
    return summary;
  }

  async unload(versionId: number): Promise<void> {
    const worker = this.workers.get(versionId);
    this.workers.delete(versionId);
    this.exits.delete(versionId);
    if (!worker) return;
    if (worker === this.shared) worker.postMessage({ type: 'unload', versionId } satisfies ToModuleHost);
    else await worker.terminate();
  }

  async close(): Promise<void> {
    const all = new Set(this.workers.values());
    this.workers.clear();
    this.exits.clear();
    this.shared = null;
    await Promise.all([...all].map((w) => w.terminate()));
  }

  private sharedWorker(): Worker {
    this.shared ??= this.spawn();
    return this.shared;
  }

  private spawn(): Worker {
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

/** The tokenizer check in a short-lived worker of its own (seconds for a large vocabulary): no device thread waits. */
function checkTokenizerApart(load: ModuleLoad): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = spawnWorker('./tokenizer-check-worker', import.meta.url, { workerData: { name: load.name, dir: load.dir, baseDir: load.baseDir } });
    worker.once('message', (error: SerializedError | null) => (error ? reject(deserializeError(error)) : resolve()));
    worker.once('error', (err) => reject(new UnirError('invalid_model_dir', `checking the tokenizer of ${load.name} crashed its worker: ${err.message}`)));
    // After a message this settles nothing; without one, the worker ended before answering.
    worker.once('exit', (code) => reject(new UnirError('invalid_model_dir', `checking the tokenizer of ${load.name} ended its worker (code ${code})`)));
  });
}
