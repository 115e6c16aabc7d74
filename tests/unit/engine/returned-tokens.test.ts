import { describe, expect, it } from 'vitest';
import { ReturnedTokens } from '../../../engine/returned-tokens.js';

const ids = (tokens: { tokenId: number }[] | undefined) => (tokens ?? []).map((t) => t.tokenId);

describe('ReturnedTokens', () => {
  it('sends a token with the text that returns all of it; one ending inside a character with that character', () => {
    const t = new ReturnedTokens();
    t.add(1, 'ab', -0.1);
    t.add(2, '', -0.2); // the first byte of a two-byte character
    t.add(3, '\u00e9c', -0.3);
    expect(t.emitted('a')).toBeUndefined();
    expect(ids(t.emitted('b'))).toEqual([1]);
    expect(ids(t.emitted('\u00e9'))).toEqual([2]);
    expect(t.emitted('c')).toEqual([{ tokenId: 3, offset: 2, logprob: -0.3, returnedText: '\u00e9c' }]);
    expect(t.end()).toEqual([]);
  });

  it('at a stop string: tokens before the cut, the one it begins inside with its returned part, none after', () => {
    const t = new ReturnedTokens();
    t.add(1, 'ws', -1);
    t.add(2, ' the', -2);
    t.add(3, ' bi', -3);
    // The reply is "ws the " (the stop string "bird." begins inside " bi"); the matcher held " bi".
    expect(ids(t.emitted('ws'))).toEqual([1]);
    expect(t.emitted(' the')).toEqual([{ tokenId: 2, offset: 2, logprob: -2, returnedText: ' the' }]);
    t.add(4, 'rd.', -4);
    expect(t.stopped(' ')).toEqual([{ tokenId: 3, offset: 6, logprob: -3, text: ' ', returnedText: ' ' }]);
    expect(t.end()).toEqual([]);
  });

  it('tokens found returned at an event without text wait for the next text, or the end', () => {
    const t = new ReturnedTokens();
    t.add(1, 'ab', 0);
    t.add(2, 'cd', 0);
    // " the" sent "ab" and "c" already; the stop string "d.." begins inside token 2, at an event with no text.
    expect(ids(t.emitted('abc'))).toEqual([1]);
    expect(t.stopped('')).toBeUndefined();
    expect(t.end()).toEqual([{ tokenId: 2, offset: 2, logprob: 0, text: 'c', returnedText: 'c' }]);
  });

  it('a token wholly inside the stop string, or ending inside a character the cut excludes, is dropped', () => {
    const t = new ReturnedTokens();
    t.add(1, 'ab', 0);
    t.add(2, '', 0);
    t.add(3, '\u00e9', 0);
    expect(ids(t.stopped('ab'))).toEqual([1]);
    expect(t.end()).toEqual([]);
  });

  it('a token whose bytes the detokenizer still holds stays pending; the text flushed at the end is its own', () => {
    const t = new ReturnedTokens();
    t.add(1, '', 0); // 0xC3
    t.add(2, '\uFFFD', 0); // 0xC3 again: the first one is given up as U+FFFD, this one is held
    expect(ids(t.emitted('\uFFFD', true))).toEqual([1]);
    t.flushed('\uFFFD');
    expect(t.end().map((x) => [x.tokenId, x.offset, x.returnedText])).toEqual([[2, 0, '\uFFFD\uFFFD']]);
  });
});
