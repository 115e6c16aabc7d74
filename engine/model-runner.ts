import type { DecoderRunner, RunLogits, RunRow } from '../models/decoder-runner.js';

/** A model the step loop runs: the base in the engine's own thread, or a module in its own worker. */
export interface ModelRunner {
  run(rows: RunRow[]): Promise<RunLogits>;
  release(seqIds: number[]): void;
  /** Copies these sequences' caches out of their shared layouts into layouts of their own (paused sequences). */
  isolate(seqIds: number[]): Promise<void>;
}

/** The base: runs on the engine thread, so a base-only step costs no message round trip. */
export class LocalModelRunner implements ModelRunner {
  readonly totals = { ortMs: 0, layoutMs: 0, relayoutMs: 0, relayouts: 0 };

  constructor(readonly decoder: DecoderRunner) {}

  async run(rows: RunRow[]): Promise<RunLogits> {
    const logits = await this.decoder.run(rows);
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
}
