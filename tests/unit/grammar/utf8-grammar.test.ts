import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { MAX_EXPANDED, rewriteCharClasses } from '../../../grammar/char-class-rewrite.js';
import { GrammarRuntime } from '../../../grammar/grammar-runtime.js';
import type { GrammarSpec } from '../../../grammar/grammar-spec.js';
import { SequenceMatcher } from '../../../grammar/sequence-matcher.js';
import { UTF8_BOUNDARY, Utf8TokenMasks } from '../../../grammar/utf8-token-masks.js';
import { readVocabBytes, type VocabBytes } from '../../../grammar/vocab-bytes.js';
import { createTokenizerInfo } from '../../../grammar/tokenizer-info.js';
import { allowedIds } from '../../../kernels/token-bitmask.js';
import { MHA } from '../../helpers/fixtures.js';
import { rng } from '../../helpers/random.js';


describe('UTF-8 token masks (Unicode table 3-7)', () => {
  // One token per byte sequence below, plus an empty (special) token.
  const sequences = [[0x41], [0xc3, 0xa9], [0xe4, 0xb8, 0xad], [0xf0, 0x9f, 0x98, 0x80], [0xc3], [0xa9], [0xe0], [0xa0], [0x80], [0xed], [0x9f], [0xf4], [0x8f], [0x90], [0xc0, 0x80], [0xc1], [0xf5], []];
  const masks = new Utf8TokenMasks(sequences.map((s) => Uint8Array.from(s)));
  /** Walks ids through the masks; null when one is not allowed where it comes. */
  const walk = (ids: number[]) => {
    let state = UTF8_BOUNDARY;
    for (const id of ids) {
      if (((masks.masks[state][id >> 5] >>> (id & 31)) & 1) === 0) return null;
      state = masks.advance(state, id);
    }
    return state;
  };
  const id = (bytes: number[]) => sequences.findIndex((s) => s.join() === bytes.join());

  test('a token sequence is allowed exactly when its bytes are well-formed UTF-8 so far', () => {
    const cases: [number[][], boolean][] = [
      [[[0x41], [0xc3, 0xa9]], true], // whole characters
      [[[0xc3], [0xa9]], true], // é split across tokens
      [[[0xe0], [0xa0], [0x80]], true], // U+0800, the first 3-byte character
      [[[0xe0], [0x80]], false], // overlong
      [[[0xed], [0x9f]], true], // ED 9F: below the surrogates
      [[[0xed], [0xa0]], false], // a surrogate
      [[[0xf4], [0x8f]], true], // U+10FFFF's lead
      [[[0xf4], [0x90]], false], // beyond U+10FFFF
      [[[0xc0, 0x80]], false], // overlong NUL
      [[[0xc1]], false], // never a lead
      [[[0xf5]], false], // never a lead
      [[[0x80]], false], // a lone continuation
      [[[0xc3], []], false], // a special token inside a character
      [[[0x41], []], true], // a special token between characters
    ];
    for (const [ids, allowed] of cases) expect({ ids, allowed: walk(ids.map(id)) !== null }).toEqual({ ids, allowed });
    expect(walk([[0xf0, 0x9f, 0x98, 0x80], [0xe4, 0xb8, 0xad]].map(id))).toBe(UTF8_BOUNDARY);
  });
});

describe('grammars on the 307-id byte-level fixture vocabulary (every byte is a token)', () => {
  const EOS = [304];
  let vocab: VocabBytes;
  let utf8: Utf8TokenMasks;
  let runtime: GrammarRuntime;
  beforeAll(async () => {
    vocab = readVocabBytes(join(MHA, 'tokenizer.json'), 307);
    utf8 = new Utf8TokenMasks(vocab.tokens);
    runtime = await GrammarRuntime.create(vocab, EOS);
  });

  /** Random walks through the grammar (a seeded uniform pick among the allowed ids): the output bytes of each. */
  async function walks(spec: GrammarSpec, count: number, seed: number): Promise<number[][]> {
    const grammar = await runtime.get(spec);
    const next = rng(seed);
    const outputs: number[][] = [];
    for (let n = 0; n < count; n++) {
      const matcher = await SequenceMatcher.create(runtime, grammar, EOS, utf8);
      const bytes: number[] = [];
      while (!matcher.terminated) {
        const allowed = allowedIds(await matcher.nextMask(), 307);
        const tokenId = allowed[Math.floor(next() * allowed.length)];
        expect(matcher.accept(tokenId)).toBe(true);
        bytes.push(...vocab.tokens[tokenId]);
      }
      matcher.dispose();
      outputs.push(bytes);
    }
    return outputs;
  }

  test('special tokens write no bytes (the grammar never counts them as text); bytes spell the vocabulary', () => {
    expect(vocab.tokens[304]).toEqual(new Uint8Array(0)); // <|endoftext|>
    expect([...vocab.tokens[256]]).toEqual([...new TextEncoder().encode(' t')]); // "Ġt"
    expect(new Set(vocab.tokens.slice(0, 256).map((t) => t[0])).size).toBe(256);
  });

  test('the failing case: xgrammar alone lets a maxLength string take bytes that are not UTF-8; with the UTF-8 mask, 300 walks are valid UTF-8 and valid JSON', async () => {
    const spec: GrammarSpec = { kind: 'json_schema', schema: { type: 'string', maxLength: 5 } };
    // xgrammar's own mask after the opening quote admits 0xC1 and 0xF5, which never occur in UTF-8.
    const info = await createTokenizerInfo(runtime.xg, vocab, EOS);
    const compiler = await runtime.xg.GrammarCompiler.createGrammarCompiler(info, false);
    const bare = await runtime.xg.GrammarMatcher.createGrammarMatcher(await compiler.compileGrammar(rewriteCharClasses('root ::= "\\"" [^"\\\\\\0-\\x1f]{0,5} "\\""')), EOS);
    expect(bare.acceptToken(0x22)).toBe(true);
    const bareAllowed = allowedIds(await bare.getNextTokenBitmask(), 307);
    expect(bareAllowed).toEqual(expect.arrayContaining([0xc1, 0xf5]));
    bare.dispose();
    for (const bytes of await walks(spec, 300, 1)) {
      // A fatal decoder throws on bytes that are not UTF-8.
      const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)));
      expect([...value].length).toBeLessThanOrEqual(5);
    }
  });

  test('character classes beyond ASCII are matched as characters (xgrammar alone offers bytes for them)', async () => {
    const latin = (await walks({ kind: 'regex', pattern: '[à-ÿ]{1,2}x' }, 100, 2)).map((b) => new TextDecoder().decode(Uint8Array.from(b)));
    for (const s of latin) expect(s).toMatch(/^[à-ÿ]{1,2}x$/u);
    const any = (await walks({ kind: 'regex', pattern: 'a.{1,3}b' }, 200, 3)).map((b) => new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(b)));
    for (const s of any) expect(s).toMatch(/^a[^]{1,3}b$/u);
    // Characters beyond ASCII did occur (the dot counts characters, not bytes).
    expect(any.filter((s) => /[^\x00-\x7f]/.test(s)).length).toBeGreaterThan(20);
    const mixed = (await walks({ kind: 'json_schema', schema: { type: 'string', pattern: '^[a-c\u4e00-\u4e05]{2}$' } }, 50, 4)).map((b) => JSON.parse(new TextDecoder().decode(Uint8Array.from(b))));
    for (const s of mixed) expect(s).toMatch(/^[a-c\u4e00-\u4e05]{2}$/u);
  });

  test('the rewrite: literals for a small non-ASCII class, a negated class for one that covers everything from U+0080, a 400 beyond the limit', () => {
    expect(rewriteCharClasses('root ::= [a-cé] "[é]" # [é]')).toBe('root ::= ([\\x61-\\x63] | "\\U000000e9") "[é]" # [é]');
    expect(rewriteCharClasses('root ::= [\\0-\\U0010ffff] [^"é]')).toBe('root ::= [^] [^\\x22]');
    expect(rewriteCharClasses('root ::= [a-z\\u0080-\\uD7FF\\uE000-\\U0010FFFF]')).toBe('root ::= [^\\x00-\\x60\\x7b-\\x7f]');
    expect(() => rewriteCharClasses(`root ::= [\\u4e00-\\u${(0x4e00 + MAX_EXPANDED).toString(16)}]`)).toThrow(/names 2049 characters beyond ASCII/);
  });
});
