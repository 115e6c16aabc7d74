import { MessageChannel, type Worker } from 'node:worker_threads';
import { deserializeError, UnirError } from '../common/errors.js';
import type { ModelSummary } from '../engine/model-summary.js';
import { spawnWorker } from '../engine/spawn-worker.js';
import type { SessionSettings } from '../models/execution-provider.js';
import type { ReasonerManifest } from './manifest.js';
import type { FromModuleWorker, ModuleWorkerData } from './module-worker.js';

export type VersionState = 'loading' | 'ready' | 'draining' | 'failed';

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
    /** `sha256:<hex>` of the files (content-hash.ts). */
    readonly contentHash: string,
  ) {}

  get name(): string {
    return this.manifest.name;
  }

  /** Loads in a worker (off the event loop); resolves with the engine's port once the module is checked. */
  async load(session: SessionSettings, baseDir: string, onExit: (v: ModuleVersion) => void): Promise<import('node:worker_threads').MessagePort> {
    const { port1, port2 } = new MessageChannel();
    const data: ModuleWorkerData = { name: this.name, dir: this.dir, session, baseDir, port: port2 };
    const worker = spawnWorker('./module-worker', import.meta.url, { workerData: data, transferList: [port2] });
    this.worker = worker;
    try {
      this.summary = await new Promise<ModelSummary>((resolve, reject) => {
        worker.once('message', (msg: FromModuleWorker) => (msg.type === 'loaded' ? resolve(msg.summary) : reject(deserializeError(msg.error))));
        worker.once('error', (err) => reject(new UnirError('invalid_model_dir', `loading ${this.name} crashed its worker: ${err.message}`)));
        worker.once('exit', (code) => reject(new UnirError('invalid_model_dir', `loading ${this.name} ended its worker (code ${code})`)));
      });
    } catch (err) {
      this.state = 'failed';
      this.error = (err as Error).message;
      port1.close();
      await this.terminate();
      throw err;
    }
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

  async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) {
      w.removeAllListeners('exit');
      await w.terminate();
    }
  }
}
