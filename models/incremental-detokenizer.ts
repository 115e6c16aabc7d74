import type { TextTokenizer } from './text-tokenizer.js';
import type { TokenStreamDecoder } from './token-stream-decoder.js';

/** Tokens of the prompt's tail decoded with the output, so decoders that drop a leading space see context. */
const CONTEXT_TOKENS = 5;

/**
 * Turns a stream of token ids into text deltas that never end in a broken UTF-8 character: a token that ends
 * inside a multi-byte character (byte-level BPE splits them) is held until the character completes.
 * The window technique follows vLLM's incremental detokenizer: decode [prefix, end) and [prefix, read) and
 * emit the difference, so decoders whose output depends on neighbours stay right (SentencePiece's Metaspace,
 * byte fallback). Byte-level vocabularies take the faster ByteLevelDetokenizer instead.
 */
export class IncrementalDetokenizer implements TokenStreamDecoder {
  private readonly tokens: number[];
  private prefixOffset = 0;
  private readOffset: number;

  constructor(
    private readonly tokenizer: TextTokenizer,
    promptIds: ArrayLike<number>,
  ) {
    const from = Math.max(0, promptIds.length - CONTEXT_TOKENS);
    this.tokens = Array.from({ length: promptIds.length - from }, (_, i) => promptIds[from + i]);
    this.readOffset = this.tokens.length;
  }

  /** Adds a token; returns the text it completes ('' while a character is still incomplete). */
  push(tokenId: number): string {
    this.tokens.push(tokenId);
    const prefixText = this.tokenizer.decode(this.tokens.slice(this.prefixOffset, this.readOffset));
    const fullText = this.tokenizer.decode(this.tokens.slice(this.prefixOffset));
    if (fullText.length <= prefixText.length || fullText.endsWith('\uFFFD')) return '';
    const delta = fullText.slice(prefixText.length);
    this.prefixOffset = this.readOffset;
    this.readOffset = this.tokens.length;
    // Keep the window short: only what the next decode needs for context.
    if (this.prefixOffset > 64) {
      this.tokens.splice(0, this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
    return delta;
  }

  holding(): boolean {
    return this.readOffset < this.tokens.length;
  }

  /** Text still held back at the end of generation (an incomplete character, emitted as U+FFFD). */
  flush(): string {
    const prefixText = this.tokenizer.decode(this.tokens.slice(this.prefixOffset, this.readOffset));
    const fullText = this.tokenizer.decode(this.tokens.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.tokens.length;
    return fullText.length > prefixText.length ? fullText.slice(prefixText.length) : '';
  }
}
