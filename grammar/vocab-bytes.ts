import { unicodeToByte } from '../models/byte-level-detokenizer.js';
import { readJsonObject } from '../models/json-file.js';

type Json = Record<string, unknown>;

/** How the token strings of a tokenizer.json spell each token's bytes. */
export interface VocabEncoding {
  /** byte_level: GPT-2 byte-to-unicode (Qwen, Llama 3); byte_fallback: ▁ for space and <0xAB> bytes (Llama 2, Gemma); raw: as is. */
  vocabType: 'byte_level' | 'byte_fallback' | 'raw';
  /** The tokenizer prepends a space to the text (SentencePiece's dummy prefix). */
  prependSpace: boolean;
  /** ▁ stands for a space (SentencePiece: byte_fallback vocabularies and Metaspace decoders). */
  metaspace: boolean;
}

/** A vocabulary as the grammar engine sees it: each id's exact output bytes, by id. */
export interface VocabBytes {
  /** Bytes per id (length: the logits' row count). Empty for special tokens and for ids without a token. */
  tokens: Uint8Array[];
  prependSpace: boolean;
}

/** Reads the encoding from tokenizer.json's decoder, normalizer and pre-tokenizer, as xgrammar's Python loader does. */
export function vocabEncoding(tokenizerJson: Json): VocabEncoding {
  const parts = (node: unknown): Json[] => {
    if (!node || typeof node !== 'object') return [];
    const n = node as Json;
    const inner = (n.decoders ?? n.normalizers ?? n.pretokenizers) as unknown[] | undefined;
    return Array.isArray(inner) ? inner.flatMap(parts) : [n];
  };
  const decoders = parts(tokenizerJson.decoder).map((d) => d.type);
  const vocabType = decoders.includes('ByteLevel') ? 'byte_level' : decoders.includes('ByteFallback') ? 'byte_fallback' : 'raw';
  const prepends = parts(tokenizerJson.normalizer).some((n) => n.type === 'Prepend' && n.prepend === '▁');
  const metaspace = parts(tokenizerJson.pre_tokenizer).some((p) => p.type === 'Metaspace' && (p.prepend_scheme ?? (p.add_prefix_space ? 'always' : 'never')) !== 'never');
  return { vocabType, prependSpace: prepends || metaspace, metaspace: vocabType === 'byte_fallback' || decoders.includes('Metaspace') };
}

/**
 * The bytes every token id writes, from tokenizer.json: byte-level pieces through GPT-2's alphabet, <0xAB>
 * byte-fallback pieces as that byte, ▁ as a space where the tokenizer uses it so, other pieces as their UTF-8.
 * Special added tokens (EOS, <|im_start|>, ...) are empty: they write no text (the server skips them), so a
 * grammar must never count them as text. Non-special added tokens (<think>, <tool_call>) are their content.
 *
 * @param vocabSize the logits' row count; ids beyond the tokenizer's (a padded vocabulary) are empty.
 */
export function readVocabBytes(tokenizerPath: string, vocabSize: number): VocabBytes {
  const json = readJsonObject(tokenizerPath);
  const encoding = vocabEncoding(json);
  const spell = pieceSpeller(encoding);
  const tokens: Uint8Array[] = Array.from({ length: vocabSize }, () => EMPTY);
  const vocab = ((json.model as Json | undefined)?.vocab ?? {}) as Record<string, number> | [string, number][];
  // BPE and WordPiece store {token: id}; Unigram stores [[token, score], ...] in id order.
  const entries: [string, number][] = Array.isArray(vocab) ? vocab.map(([token], id) => [token, id]) : Object.entries(vocab);
  for (const [token, id] of entries) if (id < vocabSize) tokens[id] = spell(token);
  const utf8 = new TextEncoder();
  for (const added of (json.added_tokens ?? []) as { id: number; content: string; special?: boolean }[]) {
    if (added.id < vocabSize) tokens[added.id] = added.special ? EMPTY : utf8.encode(added.content);
  }
  return { tokens, prependSpace: encoding.prependSpace };
}

const EMPTY = new Uint8Array(0);

function pieceSpeller(encoding: VocabEncoding): (piece: string) => Uint8Array {
  const utf8 = new TextEncoder();
  if (encoding.vocabType === 'byte_level') {
    // GPT-2's alphabet is U+0021-U+0143: a lookup by char code.
    const byteOf = new Int16Array(0x144).fill(-1);
    for (const [ch, b] of unicodeToByte()) byteOf[ch.charCodeAt(0)] = b;
    return (piece) => {
      const out = new Uint8Array(piece.length);
      for (let i = 0; i < piece.length; i++) {
        const code = piece.charCodeAt(i);
        const b = code < byteOf.length ? byteOf[code] : -1;
        // A character outside the alphabet (not expected in a byte-level vocabulary): the piece's own UTF-8.
        if (b < 0) return utf8.encode(piece);
        out[i] = b;
      }
      return out;
    };
  }
  return (piece) => {
    const byte = encoding.vocabType === 'byte_fallback' ? /^<0x([0-9A-Fa-f]{2})>$/.exec(piece) : null;
    if (byte) return Uint8Array.of(parseInt(byte[1], 16));
    return utf8.encode(encoding.metaspace ? piece.replaceAll('▁', ' ') : piece);
  };
}
