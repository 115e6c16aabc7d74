import { unicodeToByte } from '../models/byte-level-detokenizer.js';
import type { TextTokenizer } from '../models/text-tokenizer.js';

/** GPT-2's byte-level alphabet: the character each byte is written as in a byte-level BPE vocabulary. */
const BYTE_OF_CHAR: ReadonlyMap<string, number> = unicodeToByte();

const pieces = new WeakMap<TextTokenizer, Map<number, string>>();
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function pieceOf(tokenizer: TextTokenizer, id: number): string | undefined {
  let byId = pieces.get(tokenizer);
  if (!byId) {
    byId = new Map();
    for (const [piece, tokenId] of tokenizer.vocab) byId.set(tokenId, piece);
    pieces.set(tokenizer, byId);
  }
  return byId.get(id);
}

/**
 * The UTF-8 bytes of one token, as OpenAI's `bytes` field: exact even when the token is part of a
 * character (byte-level BPE splits multi-byte characters; its text then shows U+FFFD). Byte-level pieces and
 * SentencePiece byte-fallback pieces (<0xE2>) are read from the vocabulary; other tokens give their text's bytes.
 */
export function tokenBytes(tokenizer: TextTokenizer, id: number, text = tokenizer.tokenText(id)): number[] {
  const textBytes = () => [...utf8.encode(text)];
  if (tokenizer.specialIds.has(id)) return textBytes();
  const piece = pieceOf(tokenizer, id);
  if (piece === undefined) return textBytes();
  const fallback = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
  if (fallback) return [parseInt(fallback[1], 16)];
  const raw: number[] = [];
  for (const ch of piece) {
    const b = BYTE_OF_CHAR.get(ch);
    if (b === undefined) return textBytes();
    raw.push(b);
  }
  let decoded: string | null;
  try {
    decoded = strictUtf8.decode(Uint8Array.from(raw));
  } catch {
    decoded = null;
  }
  // Whole characters: trust the pieces only if they spell the token's text (so the vocabulary is byte-level).
  if (decoded !== null) return decoded === text ? raw : textBytes();
  return text.includes('\uFFFD') ? raw : textBytes();
}
