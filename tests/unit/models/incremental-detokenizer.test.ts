import { describe, expect, it } from 'vitest';
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
