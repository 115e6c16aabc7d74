import type { Sequence } from './sequence.js';

/**
 * Sequences whose client stopped reading (backpressure): out of the running batch, so the others keep their pace
 * and the batch slot goes to someone else, with their KV caches kept, each compacted into a layout of its own
 * (a paused row must not hold a whole batch's old cache). A resumed sequence returns before new prompts are
 * admitted, as soon as a slot is free.
 */
export class PausedSequences {
  readonly list: Sequence[] = [];

  /**
   * Moves running sequences that asked to pause out of `running` (compacting their caches with `isolate`), and
   * paused ones that asked to resume back in while fewer than `slots` run. Returns the new running list.
   */
  async apply(running: Sequence[], slots: number, isolate: (seq: Sequence) => Promise<void>): Promise<Sequence[]> {
    const stay: Sequence[] = [];
    for (const seq of running) {
      if (!seq.pauseRequested) stay.push(seq);
      else {
        this.list.push(seq);
        await isolate(seq);
      }
    }
    for (let i = 0; i < this.list.length && stay.length < slots; ) {
      const seq = this.list[i];
      if (seq.pauseRequested || seq.phase === 'finished') i++;
      else stay.push(...this.list.splice(i, 1));
    }
    return stay;
  }

  /** Paused sequences that asked to come back. */
  get resumable(): number {
    return this.list.filter((s) => !s.pauseRequested).length;
  }

  remove(finished: (seq: Sequence) => boolean): void {
    for (let i = this.list.length - 1; i >= 0; i--) if (finished(this.list[i])) this.list.splice(i, 1);
  }
}
