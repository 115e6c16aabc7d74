import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { deserializeError, UnirError } from '../common/errors.js';
import type { ModelSummary } from '../engine/model-summary.js';
import type { SessionSettings } from '../models/execution-provider.js';
import type { ReasonerManifest } from './manifest.js';
import type { ModuleThreads } from './module-threads.js';
import type { FromModuleWorker, ModuleWorkerData, ToModuleWorker } from './module-worker.js';

export type VersionState = 'loading' | 'ready' | 'draining' | 'failed';
const TERMINATE_WAIT_MS = 2000;

/**
 * One loaded version of a reasoning module: its worker thread (session and KV caches), the port the
 * engine runs it through, and how many requests hold it. Replacing or unloading a module drains the old
 * version: requests in flight keep it until they end, then its worker and sessions are released.
 */
export class ModuleVersion {
  state: VersionState = 'loading';
  inFlight = 0;
  loadedAt: Date | null = null;
  summary: ModelSummary | null = null;
  error: string | null = null;
  private worker: Worker | null = null;
  private onIdle: (() => void) | null = null;

  constructor(
    readonly versionId: number,
    readonly manifest: ReasonerManifest,
    readonly dir: string,
    readonly defaultWeight: number,
    readonly sizeBytes: number,
  ) {}

  get name(): string {
    return this.manifest.name;
  }

  /**
   * Loads `stagedDir` (the module's private copy) in a module thread, off the event loop; resolves with the
   * engine's port once the module is checked. Aborting `signal` (the load's deadline) stops the thread and rejects.
   */
  async load(threads: ModuleThreads, session: SessionSettings, baseDir: string, stagedDir: string, onExit: (v: ModuleVersion) => void, signal: AbortSignal): Promise<MessagePort> {
    const { port1, port2 } = new MessageChannel();
    const data: ModuleWorkerData = { name: this.name, dir: stagedDir, session, baseDir, port: port2 };
    const worker = threads.acquire();
    this.worker = worker;
    let onAbort: (() => void) | null = null;
    try {
      this.summary = await new Promise<ModelSummary>((resolve, reject) => {
        worker.once('message', (msg: FromModuleWorker) => (msg.type === 'loaded' ? resolve(msg.summary) : msg.type === 'load-failed' ? reject(deserializeError(msg.error)) : undefined));
        worker.once('error', (err) => reject(new UnirError('invalid_model_dir', `loading ${this.name} crashed its worker`, null, { detail: err.stack ?? err.message })));
        worker.once('exit', (code) => reject(new UnirError('invalid_model_dir', `loading ${this.name} ended its worker (code ${code})`)));
        onAbort = () => reject(signal.reason);
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
        worker.postMessage({ type: 'load', data } satisfies ToModuleWorker, [port2]);
      });
    } catch (err) {
      this.state = 'failed';
      this.error = (err as Error).message;
      port1.close();
      // A thread whose load failed or was stopped is not reused.
      await this.terminate();
      throw err;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
    worker.removeAllListeners('message');
    worker.removeAllListeners('exit');
    worker.removeAllListeners('error');
    worker.on('error', (err) => {
      this.error = `worker crashed: ${err.message}`;
    });
    worker.once('exit', () => {
      this.worker = null;
      if (this.state !== 'draining' || this.inFlight > 0) onExit(this);
    });
    this.loadedAt = new Date();
    return port1;
  }

  /** Frees the session and caches of a retired version, then gives its thread back (or ends it if it does not answer). */
  async unload(threads: ModuleThreads): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    w.removeAllListeners('exit');
    w.removeAllListeners('error');
    const unloaded = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), TERMINATE_WAIT_MS).unref();
      w.on('message', (msg: FromModuleWorker) => {
        if (msg.type !== 'unloaded') return;
        clearTimeout(timer);
        resolve(true);
      });
      w.once('exit', () => resolve(false));
      w.postMessage({ type: 'unload' } satisfies ToModuleWorker);
    });
    if (unloaded) threads.park(w);
    else {
      this.worker = w;
      await this.terminate();
    }
  }

  acquire(): void {
    this.inFlight++;
  }

  release(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.onIdle?.();
  }

  /** Stops taking new requests; `retire` runs once the last request in flight ends (at once if none). */
  drain(retire: () => void): void {
    this.state = 'draining';
    this.onIdle = () => {
      this.onIdle = null;
      retire();
    };
    if (this.inFlight === 0) this.onIdle();
  }

  /**
   * Stops the worker. A worker busy in native code (ONNX Runtime building a session) stops only when that call
   * returns: this waits for it at most TERMINATE_WAIT_MS, so a stuck load cannot hold up a timeout or shutdown.
   */
  async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) {
      w.removeAllListeners('exit');
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_WAIT_MS).unref()));
      await Promise.race([w.terminate().then(() => undefined), gaveUp]);
      clearTimeout(timer);
    }
  }
}
