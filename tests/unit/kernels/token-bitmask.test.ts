import { describe, expect, test } from 'vitest';
import { allowedIds, applyTokenBitmask } from '../../../kernels/token-bitmask.js';

function maskOf(allowed: number[], vocab: number): Int32Array {
  const m = new Int32Array(Math.ceil(vocab / 32));
  for (const id of allowed) m[id >> 5] |= 1 << (id & 31);
  return m;
}

describe('applyTokenBitmask', () => {
  test('keeps exactly the allowed ids, across whole, empty and partial words and a short last word', () => {
    const vocab = 101;
    const allowed = [0, 31, 32, 33, 63, 64, ...Array.from({ length: 32 }, (_, i) => 64 + i).filter((i) => i % 3 === 0), 100];
    const logits = Float32Array.from({ length: vocab }, (_, i) => i / 10);
    applyTokenBitmask(logits, maskOf([...new Set(allowed)], vocab));
    for (let id = 0; id < vocab; id++) {
      if (allowed.includes(id)) expect(logits[id]).toBeCloseTo(id / 10, 6);
      else expect(logits[id]).toBe(-Infinity);
    }
    expect(allowedIds(maskOf(allowed, vocab), vocab)).toEqual([...new Set(allowed)].sort((a, b) => a - b));
  });

  test('an all-ones word leaves its 32 ids untouched; ids beyond the mask are blocked', () => {
    const logits = new Float32Array(70).fill(1);
    const mask = Int32Array.of(-1, 0);
    applyTokenBitmask(logits, mask);
    expect([...logits.subarray(0, 32)].every((v) => v === 1)).toBe(true);
    expect([...logits.subarray(32)].every((v) => v === -Infinity)).toBe(true);
  });
});
