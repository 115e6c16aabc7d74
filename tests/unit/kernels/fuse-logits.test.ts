import { describe, it, expect } from 'vitest';
import { fuseLogits } from '../../../kernels/fuse-logits.js';

/** Bit patterns, so -0 vs +0 and NaN payloads count as differences. */
const bits = (row: Float32Array) => Array.from(new Uint32Array(row.buffer, row.byteOffset, row.length));

describe('fuseLogits', () => {
  it('adds weighted rows; short rows stop early, padded rows are truncated', () => {
    const base = new Float32Array([1, 2, 3, 4]);
    const shortRow = new Float32Array([0.5, -1]); // weight 2 -> +1, -2 on ids 0..1
    const paddedRow = new Float32Array([1, 1, 1, 1, 100, 100]); // weight 0.5 -> +0.5 on ids 0..3
    const out = new Float32Array(4);
    fuseLogits(out, base, [
      { row: shortRow, weight: 2 },
      { row: paddedRow, weight: 0.5 },
    ]);
    // [1+1+0.5, 2-2+0.5, 3+0.5, 4+0.5]
    expect(Array.from(out)).toEqual([2.5, 0.5, 3.5, 4.5]);
    expect(Array.from(base)).toEqual([1, 2, 3, 4]);
  });

  it('weight 0 gives exactly the base, even against -0, Infinity and NaN', () => {
    const base = new Float32Array([-0, 1.1, -Infinity, 7]);
    const wild = new Float32Array([NaN, Infinity, 5, -Infinity]);
    const out = new Float32Array(4).fill(123);
    fuseLogits(out, base, [{ row: wild, weight: 0 }]);
    expect(bits(out)).toEqual(bits(base));
  });

  it('fuses in place when out is base', () => {
    const base = new Float32Array([1, -1, 0]);
    const result = fuseLogits(base, base, [{ row: new Float32Array([2, 2, 2]), weight: -0.25 }]);
    expect(result).toBe(base);
    expect(Array.from(base)).toEqual([0.5, -1.5, -0.5]); // each minus 0.5
  });

  it('does not depend on the order of terms beyond rounding', () => {
    const base = new Float32Array([0.1, 0.2, 0.3]);
    const a = { row: new Float32Array([1.7, -2.3, 0.9]), weight: 0.3 };
    const b = { row: new Float32Array([-0.4, 5.1, 2.2]), weight: 1.9 };
    const ab = fuseLogits(new Float32Array(3), base, [a, b]);
    const ba = fuseLogits(new Float32Array(3), base, [b, a]);
    // id 0: 0.1 + 0.51 - 0.76 = -0.15; id 1: 0.2 - 0.69 + 9.69 = 9.2; id 2: 0.3 + 0.27 + 4.18 = 4.75
    const expected = [-0.15, 9.2, 4.75];
    for (let i = 0; i < 3; i++) {
      expect(ab[i]).toBeCloseTo(expected[i], 5);
      expect(ba[i]).toBeCloseTo(ab[i], 5);
    }
  });

  it('rejects an output of the wrong length', () => {
    expect(() => fuseLogits(new Float32Array(3), new Float32Array(4), [])).toThrow(RangeError);
  });
});

describe('fuseLogits (SIMD) against the plain loop', () => {
  it('is bit for bit out[i] += weight * row[i] in float64, for every length, weight and term length', () => {
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const vocab of [1, 3, 4, 5, 7, 8, 9, 1001, 151_936]) {
      const base = Float32Array.from({ length: vocab }, () => (next() < 0.01 ? -Infinity : (next() - 0.5) * 60));
      const terms = [vocab, vocab + 3, Math.max(1, vocab - 2)].map((length, t) => ({
        row: Float32Array.from({ length }, () => (next() - 0.5) * 40),
        weight: [0.7, -1.3, 1 / 3][t],
      }));
      const expected = base.slice();
      for (const { row, weight } of terms) for (let i = 0; i < Math.min(vocab, row.length); i++) expected[i] += weight * row[i];
      const got = fuseLogits(new Float32Array(vocab), base, terms);
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }
  });

  it('is bit for bit the plain loop on -0, NaN, ±Infinity, subnormals and extreme weights (1e-30, 1e30, NaN, Infinity)', () => {
    const specials = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38, 1.1754942e-38, 1.5, -2.25, 7e-3];
    const weights = [1e-30, 1e30, -1e30, -0, 0.5, NaN, Infinity, -Infinity, 1e-300, 3.7e38, 1 / 3];
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b, i) => (Number.isNaN(a[i]) ? 'NaN' : b));
    for (let vocab = 1; vocab <= 13; vocab++) {
      for (let w = 0; w < weights.length; w++) {
        const base = Float32Array.from({ length: vocab }, (_, i) => specials[(i * 5 + w) % specials.length]);
        const terms = [
          { row: Float32Array.from({ length: vocab + 1 }, (_, i) => specials[(i * 3 + w + 1) % specials.length]), weight: weights[w] },
          { row: Float32Array.from({ length: Math.max(1, vocab - 1) }, (_, i) => specials[(i * 7 + 2) % specials.length]), weight: weights[(w + 3) % weights.length] },
        ];
        const expected = base.slice();
        for (const { row, weight } of terms) {
          if (weight === 0) continue;
          for (let i = 0; i < Math.min(vocab, row.length); i++) expected[i] += weight * row[i];
        }
        expect(bits(fuseLogits(new Float32Array(vocab), base, terms))).toEqual(bits(expected));
      }
    }
  });
});
