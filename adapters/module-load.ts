import { UnirError } from '../common/errors.js';
import { readManifest, type ReasonerManifest } from './manifest.js';
import { stageModule, type StagedModule } from './module-files.js';

/**
 * One module load's staging copy, deadline and cleanup. The module is copied into a private directory first
 * (stageModule: opened once, checked, nothing read outside its root), its manifest read from the copy, and the
 * worker loads the copy; whatever happens, the copy is removed at the end. After `timeoutMs` (0: never) or
 * `cancel()`, `signal` aborts with load_timeout (or the reason given), which every step of the load obeys.
 */
export class LoadAttempt {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | null;
  private staged: StagedModule | null = null;

  constructor(
    readonly dir: string,
    private readonly root: string,
    /** The directory as clients see it (relative to the modules root). */
    readonly shown: string,
    timeoutMs: number,
  ) {
    const seconds = Math.round(timeoutMs) / 1000;
    this.timer = timeoutMs > 0
      ? setTimeout(() => this.cancel(new UnirError('load_timeout', `loading ${shown} took longer than --module-load-timeout (${seconds} s): it was stopped and what it held was freed`)), timeoutMs)
      : null;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Copies and checks the module, reads its manifest from the copy; returns the copy's directory. */
  async stage(): Promise<{ manifest: ReasonerManifest; stagedDir: string; sizeBytes: number }> {
    try {
      this.staged = await stageModule(this.root, this.dir, this.signal);
      this.signal.throwIfAborted();
      const manifest = await readManifest(this.staged.dir, { shown: this.shown });
      return { manifest, stagedDir: this.staged.dir, sizeBytes: this.staged.sizeBytes };
    } catch (err) {
      throw this.explain(err);
    }
  }

  cancel(reason: UnirError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** The error to report: the abort's reason once aborted, with the copy's path shown as the module's own. */
  explain(err: unknown): UnirError {
    if (this.signal.aborted && this.signal.reason instanceof UnirError) return this.signal.reason;
    if (!(err instanceof UnirError)) return new UnirError('invalid_model_dir', `${this.shown} could not be loaded`, null, { detail: String((err as Error)?.stack ?? err) });
    const staging = this.staged?.dir;
    if (!staging) return err;
    const rename = (s: string) => s.split(staging).join(this.shown);
    return new UnirError(err.code, rename(err.message), err.param, { detail: err.detail ? rename(err.detail) : null });
  }

  /** Stops the deadline and removes the copy (a loaded session no longer reads it). */
  async finish(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.staged?.remove();
    this.staged = null;
  }
}
