import { describe, it, expect } from 'vitest';
import { argmax } from '../../../kernels/argmax.js';

const row = (...values: number[]) => new Float32Array(values);

describe('argmax', () => {
  it('returns the first maximum on ties', () => {
    expect(argmax(row(1, 3, 3, 2))).toBe(1);
    expect(argmax(row(5))).toBe(0);
  });

  it('never picks NaN', () => {
    expect(argmax(row(NaN, 2, NaN, 2))).toBe(1);
    expect(argmax(row(NaN, -Infinity))).toBe(1);
  });

  it('handles fully suppressed rows and +Infinity', () => {
    expect(argmax(row(-Infinity, -Infinity))).toBe(0);
    expect(argmax(row(1, Infinity, Infinity))).toBe(1);
  });

  it('throws when nothing is comparable', () => {
    expect(() => argmax(row(NaN, NaN))).toThrow(RangeError);
    expect(() => argmax(row())).toThrow(RangeError);
  });
});
