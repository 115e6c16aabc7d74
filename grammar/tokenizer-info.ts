import { readJsonObject } from '../models/json-file.js';
import type { TokenizerInfo, XgrammarModule } from './xgrammar.js';

/** How xgrammar must read the token strings of a tokenizer.json to recover each token's bytes. */
export interface VocabEncoding {
  /** byte_level: GPT-2 byte-to-unicode (Qwen, Llama 3); byte_fallback: ▁ for space and <0xAB> bytes (Llama 2, Gemma); raw: as is. */
  vocabType: 'byte_level' | 'byte_fallback' | 'raw';
  /** The tokenizer prepends a space to the text (SentencePiece's dummy prefix). */
  prependSpace: boolean;
}

type Json = Record<string, unknown>;

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
  return { vocabType, prependSpace: prepends || metaspace };
}

/**
 * xgrammar's view of a tokenizer: every token string by id (ids without a token, as in a padded vocabulary,
 * are empty and never allowed), the logits' row count and the stop tokens.
 */
export async function createTokenizerInfo(xg: XgrammarModule, tokenizerPath: string, vocabSize: number, stopTokenIds: readonly number[]): Promise<TokenizerInfo> {
  const json = readJsonObject(tokenizerPath);
  const tokens = new Array<string>(vocabSize).fill('');
  const vocab = ((json.model as Json | undefined)?.vocab ?? {}) as Record<string, number> | [string, number][];
  // BPE and WordPiece store {token: id}; Unigram stores [[token, score], ...] in id order.
  if (Array.isArray(vocab)) vocab.forEach(([token], id) => id < vocabSize && (tokens[id] = token));
  else for (const [token, id] of Object.entries(vocab)) if (id < vocabSize) tokens[id] = token;
  for (const added of (json.added_tokens ?? []) as { id: number; content: string }[]) if (added.id < vocabSize) tokens[added.id] = added.content;
  const { vocabType, prependSpace } = vocabEncoding(json);
  return xg.TokenizerInfo.createTokenizerInfo(tokens, vocabType, prependSpace, vocabSize, [...stopTokenIds]);
}
