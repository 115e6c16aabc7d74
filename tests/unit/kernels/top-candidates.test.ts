import { describe, it, expect } from 'vitest';
import { createTopCandidates, selectTopCandidates } from '../../../kernels/top-candidates.js';
import { SeededRandom } from '../../../kernels/seeded-random.js';

const row = (...values: number[]) => new Float32Array(values);
const ids = (top: { ids: Int32Array; count: number }) => Array.from(top.ids.subarray(0, top.count));

/** Independent reference: sort every id by value descending, then id ascending. */
function naiveTop(values: Float32Array, k: number): number[] {
  return Array.from(values.keys())
    .filter((i) => values[i] > -Infinity)
    .sort((a, b) => values[b] - values[a] || a - b)
    .slice(0, k);
}

describe('selectTopCandidates', () => {
  it('sorts descending and breaks ties by lower id', () => {
    const logits = row(1, 3, 3, 2, 3);
    expect(ids(selectTopCandidates(logits, 2))).toEqual([1, 2]);
    const four = selectTopCandidates(logits, 4);
    expect(ids(four)).toEqual([1, 2, 4, 3]);
    expect(Array.from(four.values.subarray(0, 4))).toEqual([3, 3, 3, 2]);
    expect(ids(selectTopCandidates(logits, 10))).toEqual([1, 2, 4, 3, 0]);
    expect(selectTopCandidates(logits, 0).count).toBe(0);
  });

  it('keeps the lowest ids among a tie that straddles the cut', () => {
    // Five ties at 1; k = 3 must keep ids 0, 1, 2 whatever the heap did on the way.
    expect(ids(selectTopCandidates(row(1, 1, 1, 1, 1), 3))).toEqual([0, 1, 2]);
    expect(ids(selectTopCandidates(row(0, 1, 1, 5, 1, 1), 3))).toEqual([3, 1, 2]);
  });

  it('skips NaN and -Infinity', () => {
    const top = selectTopCandidates(row(NaN, 5, -Infinity, 4), 3);
    expect(top.count).toBe(2);
    expect(ids(top)).toEqual([1, 3]);
  });

  it('reuses and grows the scratch', () => {
    const scratch = createTopCandidates(2);
    const first = selectTopCandidates(row(1, 2, 3), 2, scratch);
    expect(first).toBe(scratch);
    const grown = selectTopCandidates(row(1, 2, 3, 4, 5), 4, scratch);
    expect(grown).toBe(scratch);
    expect(ids(grown)).toEqual([4, 3, 2, 1]);
  });

  it('agrees with a full sort on random rows with many ties', () => {
    const rng = new SeededRandom(3);
    const scratch = createTopCandidates();
    for (let trial = 0; trial < 20; trial++) {
      const values = new Float32Array(1000);
      for (let i = 0; i < values.length; i++) {
        const u = rng.next();
        values[i] = u < 0.05 ? -Infinity : Math.floor(u * 10);
      }
      for (const k of [1, 7, 64, 999, 1000]) {
        expect(ids(selectTopCandidates(values, k, scratch))).toEqual(naiveTop(values, k));
      }
    }
  });
});
