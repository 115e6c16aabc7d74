/** Turns generated token ids into text deltas that never end inside a UTF-8 character. */
export interface TokenStreamDecoder {
  /** Adds a token; returns the text it completes ('' while a character is incomplete). */
  push(tokenId: number): string;
  /** Text still held at the end of generation (an incomplete character, as U+FFFD). */
  flush(): string;
  /** Whether the last token's text is still held (it ends inside a character): flush() would return it. */
  holding(): boolean;
}
