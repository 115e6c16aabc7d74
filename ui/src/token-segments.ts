import type { AttributionEntry } from './protocol.js';

/** A run of output text and the attribution entries of the tokens that produced it (none without attribution). */
export interface Segment {
  text: string;
  entries: AttributionEntry[];
}

export function isChanged(segment: Segment): boolean {
  return segment.entries.some((e) => e.changed);
}

/**
 * Turns a column's stream of (text, attribution entries) pieces into segments. Text held back by the server
 * ('' pieces) keeps its entries until text arrives. A piece that holds several tokens is split per token when
 * their texts spell it exactly; otherwise (a token that is part of a UTF-8 character) the piece stays whole
 * and carries all of its entries.
 */
export class SegmentBuilder {
  private pending: AttributionEntry[] = [];

  push(text: string, entries: readonly AttributionEntry[] | undefined): Segment[] {
    const all = [...this.pending, ...(Array.isArray(entries) ? entries : [])];
    if (text === '') {
      this.pending = all;
      return [];
    }
    this.pending = [];
    if (all.length > 1 && all.map((e) => e.token).join('') === text) return all.map((e) => ({ text: e.token, entries: [e] }));
    return [{ text, entries: all }];
  }

  /** At the end: the entries whose text never came (the EOS or stop token that ended the text). */
  finish(): AttributionEntry[] {
    const rest = this.pending;
    this.pending = [];
    return rest;
  }
}

/** Running counts of a column's attribution: tokens with an entry, and those the modules changed. */
export class AttributionTally {
  tokens = 0;
  changed = 0;

  add(entries: readonly AttributionEntry[] | undefined): void {
    for (const e of Array.isArray(entries) ? entries : []) {
      this.tokens++;
      if (e.changed) this.changed++;
    }
  }
}

/** A token's text as the tooltip shows it: quoted, with spaces and newlines visible. */
export function showToken(token: string): string {
  return JSON.stringify(token);
}

/** "−0.31 (73 %)": a logprob and the probability it stands for. */
export function showLogprob(logprob: number): string {
  const percent = Math.exp(logprob) * 100;
  return `${signed(logprob)} (${percent >= 10 ? percent.toFixed(0) : percent.toPrecision(2)} %)`;
}

/** "+3.21", "−1.05": a logit difference with its sign (a real minus sign, so it reads as one). */
export function signed(x: number): string {
  const s = Math.abs(x).toFixed(2);
  return x < 0 ? `\u2212${s}` : `+${s}`;
}
