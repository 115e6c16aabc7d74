import { describe, expect, it } from 'vitest';
import { ReturnedTokens } from '../../../engine/returned-tokens.js';

describe('ReturnedTokens', () => {
  it('releases a token once all of its text is returned; one ending inside a character with the character', () => {
    const t = new ReturnedTokens();
    t.add(1, 'ab', -0.1);
    t.add(2, '', -0.2); // first byte of a two-byte character
    t.add(3, '\u00e9c', -0.3);
    expect(t.release(1)).toEqual([]);
    expect(t.release(2).map((x) => x.tokenId)).toEqual([1]);
    expect(t.release(3).map((x) => x.tokenId)).toEqual([2]);
    expect(t.release(4)).toEqual([{ tokenId: 3, offset: 2, logprob: -0.3 }]);
  });

  it('at a stop string: tokens before the cut, the one it begins inside with its returned part, none after', () => {
    const t = new ReturnedTokens();
    t.add(1, 'ws', -1);
    t.add(2, ' the', -2);
    t.add(3, ' bi', -3);
    t.add(4, 'rd.', -4);
    // The reply is "ws the " (the stop string "bird." begins inside " bi").
    expect(t.release(2).map((x) => x.tokenId)).toEqual([1]);
    const cut = t.cutAt(7);
    expect(cut).toEqual([
      { tokenId: 2, offset: 2, logprob: -2 },
      { tokenId: 3, offset: 6, logprob: -3, text: ' ' },
    ]);
  });

  it('a token wholly inside the stop string, or one ending inside a character the cut excludes, is dropped', () => {
    const t = new ReturnedTokens();
    t.add(1, 'ab', 0);
    t.add(2, '', 0);
    t.add(3, '\u00e9', 0);
    expect(t.cutAt(2).map((x) => x.tokenId)).toEqual([1]);
  });
});
