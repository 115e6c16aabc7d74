import { describe, expect, it } from 'vitest';
import { ByteLevelDetokenizer } from '../../../models/byte-level-detokenizer.js';
import { IncrementalDetokenizer } from '../../../models/incremental-detokenizer.js';
import { locateModelFiles } from '../../../models/model-files.js';
import { readModelConfig } from '../../../models/model-config.js';
import { TextTokenizer } from '../../../models/text-tokenizer.js';
import { MHA, references } from '../../helpers/fixtures.js';

const files = locateModelFiles(MHA);
const tokenizer = TextTokenizer.load(files, readModelConfig(files));

describe('TextTokenizer on the fixture byte-level BPE', () => {
  it.each(references.tokenizer.samples.map((s) => [s.text, s.ids] as const))('encodes %j to the ids the Python script computed', (text, ids) => {
    expect(Array.from(tokenizer.encode(text))).toEqual(ids);
  });

  it('reads EOS ids from generation_config.json and the tokenizer config', () => {
    const specials = references.tokenizer.specials;
    expect([...tokenizer.eosTokenIds].sort()).toEqual([specials['<|endoftext|>'], specials['<|im_end|>']].sort());
  });
});

describe('IncrementalDetokenizer', () => {
  it('never emits a broken UTF-8 character, and the deltas add up to the whole text', () => {
    const text = 'naïve café → 日本語 🙂 done';
    const ids = tokenizer.encode(text);
    // Byte-level BPE without merges for these characters: multi-byte characters span several tokens.
    expect(ids.length).toBeGreaterThan([...text].length);
    const detok = new IncrementalDetokenizer(tokenizer, tokenizer.encode('prompt:'));
    const deltas = Array.from(ids, (id) => detok.push(id));
    deltas.push(detok.flush());
    for (const d of deltas) expect(d).not.toContain('\uFFFD');
    expect(deltas.join('')).toBe(text);
    expect(deltas.filter((d) => d === '').length).toBeGreaterThan(0);
  });

  it('keeps the text right over long outputs (window trimming)', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
    const detok = new IncrementalDetokenizer(tokenizer, []);
    const out = Array.from(tokenizer.encode(text), (id) => detok.push(id)).join('') + detok.flush();
    expect(out).toBe(text);
  });

  it('flushes an incomplete trailing character as U+FFFD', () => {
    const bytes = tokenizer.encode('é');
    const detok = new IncrementalDetokenizer(tokenizer, []);
    expect(detok.push(bytes[0])).toBe('');
    expect(detok.flush()).toBe('\uFFFD');
  });
});

describe('ByteLevelDetokenizer (the fast path for byte-level vocabularies)', () => {
  const specials = Object.values(references.tokenizer.specials);

  it('is what the fixture tokenizer streams with', () => {
    expect(tokenizer.streamDecoder([])).toBeInstanceOf(ByteLevelDetokenizer);
  });

  it('gives, delta by delta, the same text as the windowed detokenizer and as decode(), on random ids', () => {
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 200; trial++) {
      // Random ids include byte tokens that break UTF-8, merged tokens and special tokens.
      const ids = Array.from({ length: 1 + Math.floor(next() * 40) }, () => (next() < 0.1 ? specials[Math.floor(next() * specials.length)] : Math.floor(next() * references.tokenizer.vocab_size)));
      const fast = tokenizer.streamDecoder([]);
      const windowed = new IncrementalDetokenizer(tokenizer, []);
      const fastText = ids.map((id) => fast.push(id)).join('') + fast.flush();
      const windowedText = ids.map((id) => windowed.push(id)).join('') + windowed.flush();
      expect(fastText).toBe(tokenizer.decode(ids));
      expect(windowedText).toBe(fastText);
    }
  });

  it('holds a split character until it completes', () => {
    const ids = tokenizer.encode('é!');
    const d = tokenizer.streamDecoder([]);
    expect(d.push(ids[0])).toBe('');
    expect(d.push(ids[1])).toBe('é');
  });
});
