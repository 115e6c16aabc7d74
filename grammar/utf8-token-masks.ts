/**
 * Which tokens keep an output well-formed UTF-8, given where the output's last character stands.
 *
 * Why: xgrammar (0.1.27) matches a negated character class such as JSON's string rule `[^"\\\0-\x1f]` by the
 * shape of UTF-8 bytes only (a lead byte, then that many bytes 0x80-0xBF). On a byte-level vocabulary, whose
 * single-byte tokens can spell any byte sequence, it lets through overlong forms (C0 A9), surrogates (ED A0 80),
 * code points beyond U+10FFFF (F4 90 .., F5-F7 ..): the text then shows U+FFFD and is not the JSON the grammar
 * matched. This mask, ANDed with the grammar's, allows only byte sequences that the Unicode standard calls
 * well-formed (Unicode 15, table 3-7), so a grammar's output is always valid UTF-8.
 *
 * States (the automaton of table 3-7): 0 at a character boundary; 1 one continuation byte 80-BF to go; 2 two to
 * go, the next 80-BF; 3 after E0 (next A0-BF); 4 after ED (next 80-9F); 5 three to go, the next 80-BF (after
 * F1-F3); 6 after F0 (next 90-BF); 7 after F4 (next 80-8F).
 */
export const UTF8_BOUNDARY = 0;
const STATES = 8;
const REJECT = 255;

/** One byte through the automaton; REJECT when the byte cannot follow. */
function step(state: number, b: number): number {
  switch (state) {
    case 0:
      if (b < 0x80) return 0;
      if (b >= 0xc2 && b <= 0xdf) return 1;
      if (b === 0xe0) return 3;
      if (b === 0xed) return 4;
      if (b >= 0xe1 && b <= 0xef) return 2;
      if (b === 0xf0) return 6;
      if (b >= 0xf1 && b <= 0xf3) return 5;
      if (b === 0xf4) return 7;
      return REJECT;
    case 1:
      return b >= 0x80 && b <= 0xbf ? 0 : REJECT;
    case 2:
      return b >= 0x80 && b <= 0xbf ? 1 : REJECT;
    case 3:
      return b >= 0xa0 && b <= 0xbf ? 1 : REJECT;
    case 4:
      return b >= 0x80 && b <= 0x9f ? 1 : REJECT;
    case 5:
      return b >= 0x80 && b <= 0xbf ? 2 : REJECT;
    case 6:
      return b >= 0x90 && b <= 0xbf ? 2 : REJECT;
    case 7:
      return b >= 0x80 && b <= 0x8f ? 2 : REJECT;
  }
  return REJECT;
}

export class Utf8TokenMasks {
  /** After token id from state s: next[id * 8 + s] (REJECT: the token would break UTF-8). */
  private readonly next: Uint8Array;
  /** Per state, xgrammar's bitmask layout (bit id % 32 of word id >> 5) of the tokens allowed there. */
  readonly masks: Int32Array[];

  /**
   * @param tokens each id's output bytes; an empty token (a special token, an unused id) is allowed only at a
   *   character boundary, so an output never ends, or meets a stop token, inside a character.
   */
  constructor(tokens: readonly Uint8Array[]) {
    const vocab = tokens.length;
    this.next = new Uint8Array(vocab * STATES).fill(REJECT);
    this.masks = Array.from({ length: STATES }, () => new Int32Array(Math.ceil(vocab / 32)));
    for (let id = 0; id < vocab; id++) {
      const bytes = tokens[id];
      for (let s = 0; s < STATES; s++) {
        let state = s;
        if (bytes.length === 0 && s !== UTF8_BOUNDARY) continue;
        for (let i = 0; i < bytes.length && state !== REJECT; i++) state = step(state, bytes[i]);
        if (state === REJECT) continue;
        this.next[id * STATES + s] = state;
        this.masks[s][id >> 5] |= 1 << (id & 31);
      }
    }
  }

  /** The state after `tokenId` from `state`; -1 if the token breaks UTF-8 there. */
  advance(state: number, tokenId: number): number {
    const next = this.next[tokenId * STATES + state];
    return next === REJECT ? -1 : next;
  }

  /**
   * ANDs `grammarMask` with the tokens allowed in `state`, into a new array (xgrammar's layout; transferable).
   * Returns null if no token is left.
   */
  restrict(grammarMask: Int32Array, state: number): Int32Array | null {
    const allowed = this.masks[state];
    const out = new Int32Array(allowed.length);
    let any = 0;
    for (let w = 0; w < out.length; w++) any |= out[w] = grammarMask[w] & allowed[w];
    return any === 0 ? null : out;
  }
}
