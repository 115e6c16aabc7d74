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

describe('entropyAndLogSumExp', () => {
  it('a peaked row at 151,936 ids: within 1e-10 of the float64 sums over every id', async () => {
    const { entropyAndLogSumExp } = await import('../../../kernels/entropy.js');
    // A trained model's shape: a few ids near the top, most tens of units below, some just past the cut-off.
    const row = Float32Array.from({ length: 151_936 }, (_, i) => (i < 5 ? 10 - i : i % 3 === 0 ? -31 + (i % 7) : -45 - (i % 50)));
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let z = 0;
    let ws = 0;
    for (const x of row) {
      const w = Math.exp(x - max);
      z += w;
      ws += w * (x - max);
    }
    const got = entropyAndLogSumExp(row);
    expect(Math.abs(got.logSumExp - (max + Math.log(z)))).toBeLessThan(1e-10);
    expect(Math.abs(got.entropy - (Math.log(z) - ws / z))).toBeLessThan(1e-10);
  });
});
