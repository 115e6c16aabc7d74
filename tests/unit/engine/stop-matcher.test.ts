import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../../engine/stop-matcher.js';

function feed(stops: string[], deltas: string[]) {
  const m = new StopMatcher(stops);
  let out = '';
  for (const d of deltas) {
    const r = m.push(d);
    out += r.emit;
    if (r.matched !== null) return { out, matched: r.matched };
  }
  return { out: out + m.flush(), matched: null };
}

describe('StopMatcher', () => {
  it('finds a stop string split across deltas and emits nothing of it', () => {
    expect(feed(['END'], ['abc E', 'N', 'D tail'])).toEqual({ out: 'abc ', matched: 'END' });
  });

  it('holds back a possible prefix, and releases it when it turns out not to be one', () => {
    const m = new StopMatcher(['END']);
    expect(m.push('xE').emit).toBe('x');
    expect(m.push('N').emit).toBe('');
    expect(m.push('x').emit).toBe('ENx');
  });

  it('picks the earliest of several stop strings', () => {
    expect(feed(['zz', 'b'], ['a', 'bzz'])).toEqual({ out: 'a', matched: 'b' });
  });

  it('passes text through unchanged without stop strings', () => {
    expect(feed([], ['a', 'b', 'c'])).toEqual({ out: 'abc', matched: null });
  });

  it('flushes a held prefix at the end', () => {
    expect(feed(['STOP'], ['done ST'])).toEqual({ out: 'done ST', matched: null });
  });

  it('stops on multi-byte stop strings', () => {
    expect(feed(['→'], ['a ', '→ b'])).toEqual({ out: 'a ', matched: '→' });
  });
});
