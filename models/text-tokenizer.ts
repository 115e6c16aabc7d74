import { Tokenizer } from '@huggingface/tokenizers';
import { readJsonObject } from './json-file.js';
import type { ModelConfig } from './model-config.js';
import type { ModelConfigFiles } from './model-files.js';
import { UnirError } from '../common/errors.js';
import { byteLevelTable, ByteLevelDetokenizer } from './byte-level-detokenizer.js';
import { IncrementalDetokenizer } from './incremental-detokenizer.js';
import type { TokenStreamDecoder } from './token-stream-decoder.js';

/** The model's tokenizer (tokenizer.json through @huggingface/tokenizers) and the special tokens around it. */
export class TextTokenizer {
  readonly eosTokenIds: readonly number[];
  readonly specialIds: ReadonlySet<number>;
  readonly chatTemplate: string | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly vocab: ReadonlyMap<string, number>;
  /**
   * An upper bound on the characters of input text one token stands for (Infinity when the normalizer may delete
   * characters): twice the longest token's UTF-8 bytes (a token string covers at most its own bytes of text; the
   * factor covers Unicode normalization composing up to three code points into one).
   */
  readonly maxCharsPerToken: number;

  private readonly byteTable: (Uint8Array | undefined)[] | null;

  private constructor(
    private readonly inner: Tokenizer,
    tokenizerJson: Record<string, unknown>,
    tokenizerConfig: Record<string, unknown>,
    config: ModelConfig,
  ) {
    this.vocab = inner.get_vocab(true);
    const added = inner.get_added_tokens_decoder();
    this.specialIds = new Set([...added.values()].filter((t) => t.special).map((t) => t.id));
    this.byteTable = byteLevelTable(tokenizerJson, this.vocab, new Set(added.keys()));
    this.bosToken = tokenString(tokenizerConfig.bos_token);
    this.eosToken = tokenString(tokenizerConfig.eos_token);
    const eosFromTokenizer = this.eosToken !== null ? this.vocab.get(this.eosToken) : undefined;
    this.eosTokenIds = [...new Set([...config.eosTokenIds, ...(eosFromTokenizer !== undefined ? [eosFromTokenizer] : [])])];
    let longest = 0;
    for (const token of this.vocab.keys()) longest = Math.max(longest, Buffer.byteLength(token, 'utf8'));
    this.maxCharsPerToken = normalizerMayDelete(tokenizerJson.normalizer) ? Infinity : 2 * Math.max(1, longest);
    const template = tokenizerConfig.chat_template;
    this.chatTemplate = typeof template === 'string' ? template : namedDefaultTemplate(template);
  }

  static load(files: ModelConfigFiles, config: ModelConfig): TextTokenizer {
    const json = readJsonObject(files.tokenizer);
    const tokenizerConfig = files.tokenizerConfig ? readJsonObject(files.tokenizerConfig) : {};
    let inner: Tokenizer;
    try {
      inner = new Tokenizer(json, tokenizerConfig);
    } catch (err) {
      throw new UnirError('invalid_model_dir', `${files.tokenizer} could not be read as a tokenizer: ${(err as Error).message}`);
    }
    return new TextTokenizer(inner, json, tokenizerConfig, config);
  }

  encode(text: string, addSpecialTokens = true): Int32Array {
    return Int32Array.from(this.inner.encode(text, { add_special_tokens: addSpecialTokens }).ids);
  }

  decode(ids: ArrayLike<number>, skipSpecialTokens = true): string {
    if (ids.length === 0) return '';
    return this.inner.decode(Array.from(ids), {
      skip_special_tokens: skipSpecialTokens,
      // Streaming decodes windows of tokens; clean-up would make a window's text differ from the whole's.
      clean_up_tokenization_spaces: false,
    });
  }

  /** A streaming decoder for one generation, skipping special tokens as decode() does. */
  streamDecoder(promptIds: ArrayLike<number>): TokenStreamDecoder {
    return this.byteTable ? new ByteLevelDetokenizer(this.byteTable, this.specialIds) : new IncrementalDetokenizer(this, promptIds);
  }

  /** The text of one token as logprobs show it (special tokens by their name). */
  tokenText(id: number): string {
    return this.decode([id], false);
  }

  /** Tokens whose id is `first` or more (ids a model with `first` logits rows cannot take), by id. */
  idsFrom(first: number): { id: number; token: string }[] {
    const out: { id: number; token: string }[] = [];
    for (const [token, id] of this.vocab) if (id >= first) out.push({ id, token });
    return out.sort((a, b) => a.id - b.id);
  }

  idOf(token: string): number | undefined {
    return this.vocab.get(token);
  }
}

/** Normalizers that only map or add characters; any other (Strip, BertNormalizer, Precompiled, ...) may delete some. */
const NON_DELETING = new Set(['NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase', 'Prepend']);

function normalizerMayDelete(n: unknown): boolean {
  if (n === null || n === undefined) return false;
  if (typeof n !== 'object') return true;
  const { type, normalizers, content } = n as { type?: string; normalizers?: unknown[]; content?: unknown };
  if (type === 'Sequence') return !Array.isArray(normalizers) || normalizers.some(normalizerMayDelete);
  if (type === 'Replace') return typeof content !== 'string' || content.length === 0;
  return !NON_DELETING.has(type ?? '');
}

function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/** tokenizer_config.json may hold a list of named templates; the one named "default" is the chat template. */
function namedDefaultTemplate(v: unknown): string | null {
  if (!Array.isArray(v)) return null;
  const named = v.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default');
  return named && typeof (named as { template?: unknown }).template === 'string' ? (named as { template: string }).template : null;
}
