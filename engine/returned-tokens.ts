import type { ReturnedToken, TopLogprob } from './generation-request.js';

interface Pending {
  token: ReturnedToken;
  /** The token's own text (its detokenizer delta; '' while it ends inside a character). */
  delta: string;
  start: number;
}

/**
 * Which generated tokens the returned text is made of, so that logprobs (one entry per returned token) spell
 * exactly the reply. A token's text is known when the detokenizer emits it, but it is returned only once the stop
 * matcher releases it: until then it is pending. On a stop-string match the tokens past the cut are dropped and
 * a token the stop string starts inside is returned with only its part before the cut. EOS, stop tokens and
 * special tokens the text skips are never added.
 *
 * Positions are offsets in the decoded text, which equals the returned text up to a cut: the stop matcher only
 * holds text back, it never reorders it. Tokens ride with an event that carries text (streams skip events
 * without); ones found returned at an event without text wait for the next event, or the end.
 */
export class ReturnedTokens {
  private readonly pending: Pending[] = [];
  private readonly carried: ReturnedToken[] = [];
  private decoded = 0;
  private returned = 0;

  /** A token whose text (`delta`, possibly '' for part of a character) goes into the decoded text. */
  add(tokenId: number, delta: string, logprob?: number, topLogprobs?: TopLogprob[]): void {
    const token: ReturnedToken = { tokenId, offset: this.decoded, returnedText: delta };
    if (logprob !== undefined) token.logprob = logprob;
    if (topLogprobs !== undefined) token.topLogprobs = topLogprobs;
    this.pending.push({ token, delta, start: this.decoded });
    this.decoded += delta.length;
  }

  /**
   * `text` was returned: the tokens to send with it, whose text lies within what is returned so far (a token
   * that ends inside a character goes with the character). `lastHeld`: the detokenizer still holds the last
   * token's bytes, so it stays pending (flushed() may add to its text). Undefined when there are none, or `text` is ''.
   */
  emitted(text: string, lastHeld = false): ReturnedToken[] | undefined {
    this.returned += text.length;
    let n = 0;
    const last = lastHeld ? this.pending.length - 1 : this.pending.length;
    while (n < last) {
      const p = this.pending[n];
      const inside = p.delta.length > 0 ? p.start + p.delta.length <= this.returned : p.start < this.returned;
      if (!inside) break;
      n++;
    }
    return this.ride(text, this.pending.splice(0, n).map((p) => p.token));
  }

  /** `text` was returned and a stop string begins after it: the tokens before the cut, the one it begins inside cut short. */
  stopped(text: string): ReturnedToken[] | undefined {
    this.returned += text.length;
    const cut = this.returned;
    const out: ReturnedToken[] = [];
    for (const p of this.pending.splice(0)) {
      if (p.start >= cut) break;
      if (p.start + p.delta.length > cut) p.token.text = p.token.returnedText = p.delta.slice(0, cut - p.start);
      out.push(p.token);
    }
    return this.ride(text, out);
  }

  /** Generation ended and the detokenizer let go of `text` (an incomplete character, as U+FFFD): the last token's. */
  flushed(text: string): void {
    const last = this.pending.at(-1);
    if (text === '' || !last) return;
    last.delta += text;
    last.token.returnedText += text;
    this.decoded += text.length;
  }

  /** Generation ended: the tokens still held, with everything still pending (all of it is returned now). */
  end(): ReturnedToken[] {
    return [...this.carried.splice(0), ...this.pending.splice(0).map((p) => p.token)];
  }

  private ride(text: string, tokens: ReturnedToken[]): ReturnedToken[] | undefined {
    if (text === '') {
      this.carried.push(...tokens);
      return undefined;
    }
    const all = this.carried.length > 0 ? [...this.carried.splice(0), ...tokens] : tokens;
    return all.length > 0 ? all : undefined;
  }
}
