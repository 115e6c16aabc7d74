/**
 * Finds stop strings in streamed text, including those split across tokens, and holds back any tail that
 * could still become a stop string, so no part of a stop string is ever emitted.
 */
export class StopMatcher {
  private pending = '';

  constructor(private readonly stops: readonly string[]) {}

  /** Adds a text delta; returns the text safe to emit now, and the stop string found (null if none). */
  push(delta: string): { emit: string; matched: string | null } {
    this.pending += delta;
    if (this.stops.length === 0) return this.take(this.pending.length, null);
    let at = -1;
    let matched: string | null = null;
    for (const stop of this.stops) {
      const i = this.pending.indexOf(stop);
      if (i !== -1 && (at === -1 || i < at)) {
        at = i;
        matched = stop;
      }
    }
    if (matched !== null) return this.take(at, matched);
    return this.take(this.pending.length - this.heldTail(), null);
  }

  /** The held-back text when generation ends for another reason. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }

  private take(upTo: number, matched: string | null): { emit: string; matched: string | null } {
    const emit = this.pending.slice(0, upTo);
    this.pending = matched === null ? this.pending.slice(upTo) : '';
    return { emit, matched };
  }

  /** Length of the longest suffix of the pending text that is a proper prefix of a stop string. */
  private heldTail(): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.pending.length); n > longest; n--) {
        if (this.pending.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
