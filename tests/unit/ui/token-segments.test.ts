import { describe, expect, it } from 'vitest';
import type { AttributionEntry } from '../../../ui/src/protocol.js';
import { RunStats } from '../../../ui/src/run-stats.js';
import { AttributionTally, isChanged, SegmentBuilder, showLogprob, signed } from '../../../ui/src/token-segments.js';

const entry = (token: string, changed: boolean): AttributionEntry => ({
  token_id: token.charCodeAt(0),
  token,
  base_top: { token_id: 1, token: 'b', logprob: -0.31 },
  fused_top: { token_id: 2, token, logprob: -0.12 },
  changed,
  modules: [{ name: 'add', weight: 1, chosen: 3.21, base_top: -1.05 }],
});

describe('playground token segments', () => {
  it('gives each token its entry, keeps held-back entries until their text comes, and splits text its tokens spell', () => {
    const b = new SegmentBuilder();
    expect(b.push(' 6', [entry(' 6', true)])).toEqual([{ text: ' 6', entries: [entry(' 6', true)] }]);
    expect(b.push('', [entry(',', false)])).toEqual([]);
    expect(b.push(',!', [entry('!', false)])).toEqual([
      { text: ',', entries: [entry(',', false)] },
      { text: '!', entries: [entry('!', false)] },
    ]);
    expect(b.push('plain', undefined)).toEqual([{ text: 'plain', entries: [] }]);
  });

  it('hands over at the end the entries whose text never came (the EOS), once', () => {
    const b = new SegmentBuilder();
    b.push('7', [entry('7', false)]);
    b.push('', [entry('<|endoftext|>', true)]);
    expect(b.push('', undefined)).toEqual([]);
    expect(b.finish()).toEqual([entry('<|endoftext|>', true)]);
    expect(b.finish()).toEqual([]);
  });

  it('keeps a piece whole when its tokens do not spell it (bytes of one UTF-8 character)', () => {
    const b = new SegmentBuilder();
    const parts = [entry('\ufffd', true), entry('\ufffd', false)];
    const [segment] = b.push('é', parts);
    expect(segment).toEqual({ text: 'é', entries: parts });
    expect(isChanged(segment)).toBe(true);
  });

  it('counts tokens and changed tokens', () => {
    const t = new AttributionTally();
    t.add([entry('a', true), entry('b', false)]);
    t.add(undefined);
    t.add([entry('c', true)]);
    expect([t.tokens, t.changed]).toEqual([3, 2]);
  });

  it('shows logprobs with their probability and contributions with a sign', () => {
    expect(showLogprob(-0.31)).toBe('\u22120.31 (73 %)');
    expect(showLogprob(-5)).toBe('\u22125.00 (0.67 %)');
    expect(signed(3.21)).toBe('+3.21');
    expect(signed(-1.05)).toBe('\u22121.05');
  });
});

describe('playground run statistics', () => {
  it('time to first token from the send; tokens/s over the tokens after the first', () => {
    const s = new RunStats(1000);
    expect([s.timeToFirstTokenMs, s.tokensPerSecond]).toEqual([null, null]);
    s.token(1120);
    expect([s.timeToFirstTokenMs, s.tokensPerSecond]).toEqual([120, null]);
    for (const at of [1130, 1140, 1150, 1160, 1170]) s.token(at);
    expect(s.tokens).toBe(6);
    expect(s.tokensPerSecond).toBeCloseTo(100, 9);
  });
});
