import type { ModelSummary } from '../engine/model-summary.js';
import type { SessionSettings } from '../models/execution-provider.js';
import type { OnnxChoice } from '../models/onnx-variant.js';
import type { ReasonerManifest } from './manifest.js';
import type { ModuleHost } from './module-host.js';

export type VersionState = 'loading' | 'ready' | 'draining' | 'failed';

/**
 * One loaded version of a reasoning module: where its session runs (its module host: a worker of its own, the
 * device's shared worker, or the engine thread), and how many requests hold it. Replacing or unloading a module
 * drains the old version: requests in flight keep it until they end, then its session is released.
 */
export class ModuleVersion {
  state: VersionState = 'loading';
  inFlight = 0;
  loadedAt: Date | null = null;
  summary: ModelSummary | null = null;
  error: string | null = null;
  /** Which ONNX variant to load (the admin request's, else the manifest's). */
  onnxChoice: OnnxChoice = {};
  private host: ModuleHost | null = null;
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

  /**
   * Loads `stagedDir` (the module's private copy, LoadAttempt) on `host`, off the event loop, and attaches it to the
   * engine once it is checked against the base. Aborting `signal` (the load's deadline) gives the load up.
   */
  async load(host: ModuleHost, session: SessionSettings, baseDir: string, stagedDir: string, onExit: (v: ModuleVersion) => void, signal?: AbortSignal): Promise<void> {
    this.host = host;
    try {
      const load = { versionId: this.versionId, name: this.name, dir: stagedDir, baseDir, session, onnx: this.onnxChoice };
      this.summary = await host.load(load, (reason) => {
        this.error = reason;
        this.host = null;
        if (this.state !== 'draining' || this.inFlight > 0) onExit(this);
      }, signal);
    } catch (err) {
      this.state = 'failed';
      this.error = (err as Error).message;
      this.host = null;
      throw err;
    }
    this.loadedAt = new Date();
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

  /** Releases its session (the engine has detached it); a no-op once done. */
  async terminate(): Promise<void> {
    const host = this.host;
    this.host = null;
    await host?.unload(this.versionId);
  }
}
