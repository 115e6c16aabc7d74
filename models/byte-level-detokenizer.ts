import type { TokenStreamDecoder } from './token-stream-decoder.js';

/**
 * GPT-2's reversible map from bytes to printable characters, which byte-level BPE vocabularies
 * (GPT-2, Llama 3, Qwen2) are written in. Inverted: character → byte.
 */
export function unicodeToByte(): Map<string, number> {
  const printable = [
    ...range(0x21, 0x7e),
    ...range(0xa1, 0xac),
    ...range(0xae, 0xff),
  ];
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const code = printable.includes(b) ? b : 256 + extra++;
    map.set(String.fromCodePoint(code), b);
  }
  return map;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * The bytes of every token id when the tokenizer's decoder is ByteLevel, or null when it is not (the
 * caller then uses the general windowed detokenizer). Added tokens decode to their content's UTF-8.
 */
export function byteLevelTable(
  tokenizerJson: Record<string, unknown>,
  vocab: ReadonlyMap<string, number>,
  addedIds: ReadonlySet<number>,
): (Uint8Array | undefined)[] | null {
  const decoder = tokenizerJson.decoder as { type?: string } | null | undefined;
  if (!decoder || decoder.type !== 'ByteLevel' || tokenizerJson.normalizer) return null;
  const toByte = unicodeToByte();
  const encoder = new TextEncoder();
  const table: (Uint8Array | undefined)[] = [];
  for (const [token, id] of vocab) {
    if (addedIds.has(id)) {
      table[id] = encoder.encode(token);
      continue;
    }
    const bytes = new Uint8Array(token.length);
    let n = 0;
    for (const ch of token) {
      const b = toByte.get(ch);
      if (b === undefined) return null;
      bytes[n++] = b;
    }
    table[id] = bytes.subarray(0, n);
  }
  return table;
}

/** How many continuation bytes a UTF-8 sequence starting with byte `b` takes (0 for ASCII and stray bytes). */
function utf8Continuations(b: number): number {
  if ((b & 0xe0) === 0xc0) return 1;
  if ((b & 0xf0) === 0xe0) return 2;
  if ((b & 0xf8) === 0xf0) return 3;
  return 0;
}

/**
 * Streaming detokenization for byte-level vocabularies: each token's bytes go through a streaming UTF-8
 * decoder, which emits only complete characters, so a character split across tokens is held until it
 * completes. One table lookup per token instead of decoding a window of tokens twice.
 */
export class ByteLevelDetokenizer implements TokenStreamDecoder {
  private readonly utf8 = new TextDecoder('utf-8');
  /** Continuation bytes the last lead byte still expects (the decoder holds those bytes meanwhile). */
  private needed = 0;

  constructor(
    private readonly table: readonly (Uint8Array | undefined)[],
    private readonly skip: ReadonlySet<number>,
  ) {}

  push(tokenId: number): string {
    if (this.skip.has(tokenId)) return '';
    const bytes = this.table[tokenId];
    if (!bytes) return '';
    for (const b of bytes) this.needed = this.needed > 0 && (b & 0xc0) === 0x80 ? this.needed - 1 : utf8Continuations(b);
    return this.utf8.decode(bytes, { stream: true });
  }

  flush(): string {
    this.needed = 0;
    return this.utf8.decode();
  }

  /** Errs towards true on malformed sequences the decoder already gave up on; flush() then returns ''. */
  holding(): boolean {
    return this.needed > 0;
  }
}
