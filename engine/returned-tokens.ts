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
 * holds text back, it never reorders it.
 */
export class ReturnedTokens {
  private readonly pending: Pending[] = [];
  private decoded = 0;

  /** A token whose text (`delta`, possibly '' for part of a character) goes into the decoded text. */
  add(tokenId: number, delta: string, logprob?: number, topLogprobs?: TopLogprob[]): void {
    const token: ReturnedToken = { tokenId, offset: this.decoded };
    if (logprob !== undefined) token.logprob = logprob;
    if (topLogprobs !== undefined) token.topLogprobs = topLogprobs;
    this.pending.push({ token, delta, start: this.decoded });
    this.decoded += delta.length;
  }

  /**
   * The pending tokens whose text lies within the first `returned` characters of the returned text. A token that
   * ends inside a character (no text of its own) is returned with the character it starts.
   */
  release(returned: number): ReturnedToken[] {
    let n = 0;
    while (n < this.pending.length) {
      const p = this.pending[n];
      const inside = p.delta.length > 0 ? p.start + p.delta.length <= returned : p.start < returned;
      if (!inside) break;
      n++;
    }
    return this.pending.splice(0, n).map((p) => p.token);
  }

  /** Generation ended and everything held is returned: every pending token. */
  releaseAll(): ReturnedToken[] {
    return this.pending.splice(0).map((p) => p.token);
  }

  /** A stop string begins at `cut` (the returned text's final length): tokens before it, the one it starts inside cut short. */
  cutAt(cut: number): ReturnedToken[] {
    const out: ReturnedToken[] = [];
    for (const p of this.pending.splice(0)) {
      if (p.start >= cut) break;
      if (p.start + p.delta.length > cut) p.token.text = p.delta.slice(0, cut - p.start);
      out.push(p.token);
    }
    return out;
  }
}
