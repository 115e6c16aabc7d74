import { describe, expect, it } from 'vitest';
import { argmaxFinite, createLogitCandidates, negligibleCut, scanLogits } from '../../../kernels/logit-scan.js';
import { NonFiniteLogitsError } from '../../../kernels/non-finite-logits.js';
import { SeededRandom } from '../../../kernels/seeded-random.js';

const kindOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    if (err instanceof NonFiniteLogitsError) return err.kind;
    throw err;
  }
  return null;
};

describe('scanLogits', () => {
  it('keeps exactly the ids within the cut of the max, in id order, whatever order the max comes in', () => {
    const rng = new SeededRandom(4);
    for (let trial = 0; trial < 50; trial++) {
      const row = Float32Array.from({ length: 2000 }, () => -60 + 70 * rng.next());
      if (trial % 3 === 0) row[Math.floor(rng.next() * row.length)] = -Infinity;
      const cut = 1 + 40 * rng.next();
      const c = scanLogits(row, cut, createLogitCandidates());
      const max = Math.max(...row);
      const expected = Array.from(row.keys()).filter((i) => row[i] >= max - cut);
      expect(c.max).toBe(max);
      expect(Array.from(c.ids.subarray(0, c.count))).toEqual(expected);
      expect(Array.from(c.values.subarray(0, c.count))).toEqual(expected.map((i) => row[i]));
      expect(c.min).toBe(Math.min(...expected.map((i) => row[i])));
    }
  });

  it('finds a NaN anywhere, and +Infinity, and rows without a finite entry; -Infinity alone is a mask', () => {
    const scan = (row: number[]) => () => scanLogits(Float32Array.from(row), 30, createLogitCandidates());
    expect(kindOf(scan([NaN, 1, 2]))).toBe('nan');
    expect(kindOf(scan([5, 1, NaN]))).toBe('nan');
    expect(kindOf(scan([5, -100, NaN, 4]))).toBe('nan'); // far below the cut
    expect(kindOf(scan([1, Infinity, 2]))).toBe('infinity');
    expect(kindOf(scan([-Infinity, -Infinity]))).toBe('no-finite');
    expect(kindOf(scan([]))).toBe('no-finite');
    expect(kindOf(scan([-Infinity, 3, -Infinity]))).toBeNull();
    for (const row of [[NaN, 1], [1, 2, NaN], [1, Infinity], [-Infinity], [-Infinity, 2, 2]]) {
      expect(kindOf(() => argmaxFinite(Float32Array.from(row)))).toBe(kindOf(scan(row)));
    }
    expect(argmaxFinite(Float32Array.from([-Infinity, 2, 2]))).toBe(1);
  });

  it('the cut leaves out less than 2^-24 of the softmax mass at any vocabulary', () => {
    for (const vocab of [32_000, 151_936, 262_144, 4_000_000]) expect(vocab * Math.exp(-negligibleCut(vocab))).toBeLessThanOrEqual(2 ** -24 * 1.000001);
  });
});
