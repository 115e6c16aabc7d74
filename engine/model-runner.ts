import { UnirError } from '../common/errors.js';
import type { DecoderRunner, RunLogits, RunRow } from '../models/decoder-runner.js';

/** A model the step loop runs: in the engine's own thread, or a module in a worker thread. */
export interface ModelRunner {
  run(rows: RunRow[]): Promise<RunLogits>;
  release(seqIds: number[]): void;
  /** Copies these sequences' caches out of their shared layouts into layouts of their own (paused sequences). */
  isolate(seqIds: number[]): Promise<void>;
  /** Stops taking runs; a run in flight ends first, then its caches (and, if it owns them, its session) are released. */
  close(): Promise<void>;
}

/**
 * A model run in the engine thread: the base (a base-only step costs no message round trip), and modules that
 * share the base's one-thread device (engine/device-owner.ts).
 */
export class LocalModelRunner implements ModelRunner {
  readonly totals = { ortMs: 0, layoutMs: 0, relayoutMs: 0, relayouts: 0 };
  private inFlight: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** `moduleName`: a reasoning module's (as loaded), named in its failures as its own worker would name it. */
  constructor(
    readonly decoder: DecoderRunner,
    private readonly moduleName: string | null = null,
  ) {}

  async run(rows: RunRow[]): Promise<RunLogits> {
    if (this.closed) throw new UnirError('reasoner_failed', 'the model was detached');
    const run = this.decoder.run(rows);
    this.inFlight = run.catch(() => undefined);
    let logits: RunLogits;
    try {
      logits = await run;
    } catch (err) {
      if (this.moduleName === null) throw err;
      // ONNX Runtime's text (source paths) goes to the log only, as from a module's own worker.
      const detail = `${(err as Error).message}${err instanceof UnirError && err.detail ? `: ${err.detail}` : ''}`;
      throw new UnirError('reasoner_failed', `reasoning module ${this.moduleName} failed at run time`, null, { detail });
    }
    const t = this.decoder.lastTiming;
    this.totals.ortMs += t.ortMs;
    this.totals.layoutMs += t.layoutMs;
    if (t.relayoutMs > 0) {
      this.totals.relayoutMs += t.relayoutMs;
      this.totals.relayouts++;
    }
    return logits;
  }

  release(seqIds: number[]): void {
    for (const id of seqIds) this.decoder.release(id);
  }

  async isolate(seqIds: number[]): Promise<void> {
    for (const id of seqIds) await this.decoder.isolate(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inFlight;
    await this.decoder.dispose();
    await this.decoder.session.release().catch(() => undefined);
  }
}
