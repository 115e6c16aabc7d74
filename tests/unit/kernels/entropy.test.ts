import { describe, it, expect } from 'vitest';
import { entropy } from '../../../kernels/entropy.js';

describe('entropy', () => {
  it('is ln 4 for four equal logits', () => {
    expect(entropy(new Float32Array([3, 3, 3, 3]))).toBeCloseTo(1.3862944, 7);
  });

  it('matches -Σ p ln p for p = 0.5, 0.25, 0.25', () => {
    // 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2 = 1.0397208
    const row = new Float32Array([Math.log(0.5), Math.log(0.25), Math.log(0.25), -Infinity]);
    expect(entropy(row)).toBeCloseTo(1.0397208, 6);
  });

  it('is 0 for a single possible token and survives large logits', () => {
    expect(entropy(new Float32Array([5, -Infinity, -Infinity]))).toBe(0);
    expect(entropy(new Float32Array([1000, 1000]))).toBeCloseTo(Math.LN2, 9);
  });
});
