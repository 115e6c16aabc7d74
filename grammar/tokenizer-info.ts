import type { VocabBytes } from './vocab-bytes.js';
import type { TokenizerInfo, XgrammarModule } from './xgrammar.js';

/**
 * xgrammar's view of a tokenizer: each id's exact bytes (vocab type "raw": the bytes are already decoded, see
 * vocab-bytes.ts), the logits' row count and the stop tokens. Empty tokens (special tokens, unused ids) are
 * never allowed by a grammar; the stop tokens are allowed once it is complete.
 */
export function createTokenizerInfo(xg: XgrammarModule, vocab: VocabBytes, stopTokenIds: readonly number[]): Promise<TokenizerInfo> {
  // The binding copies a Uint8Array into a std::string byte for byte (a JS string would be UTF-8 encoded, which
  // cannot spell a token that holds part of a character).
  const encoded = vocab.tokens as unknown as string[];
  return xg.TokenizerInfo.createTokenizerInfo(encoded, 'raw', vocab.prependSpace, vocab.tokens.length, [...stopTokenIds]);
}
