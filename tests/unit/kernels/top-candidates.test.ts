import { describe, it, expect } from 'vitest';
import { createTopCandidates, selectTopCandidates } from '../../../kernels/top-candidates.js';
import { RowKernels } from '../../../kernels/row-kernels.js';
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

  it('with a skip search, reads only what it points at: a row masked to fewer ids than k costs no scan in JavaScript', () => {
    // A grammar mask or suppressed ids leave most of the row -Infinity; top_k 50 over 3 allowed ids must not walk
    // the 10,000 masked ones one by one while the heap fills.
    const masked = new Float32Array(10_001).fill(-Infinity);
    masked[17] = 1;
    masked[5_000] = 3;
    masked[10_000] = 2;
    const kernels = new RowKernels();
    kernels.loadRow(masked);
    let reads = 0;
    const counted = new Proxy(masked, {
      get(target, key) {
        if (typeof key === 'string' && /^[0-9]+$/.test(key)) reads++;
        return Reflect.get(target, key);
      },
    });
    const top = selectTopCandidates(counted, 50, createTopCandidates(), (from, floor) => kernels.firstAbove(from, floor));
    expect(ids(top)).toEqual([5_000, 10_000, 17]);
    // Each allowed id and the masked entry after it (where the next search starts), not 10,001.
    expect(reads).toBeLessThanOrEqual(2 * 3 + 1);
    // The same with more allowed ids than k, and with none masked: the heap still agrees with a full sort.
    for (const fill of [-Infinity, 0]) {
      const row = new Float32Array(1_003).fill(fill);
      for (let i = 5; i < row.length; i += 97) row[i] = (i * 7) % 13;
      kernels.loadRow(row);
      for (const k of [1, 4, 11, 50]) {
        expect(ids(selectTopCandidates(row, k, createTopCandidates(), (from, floor) => kernels.firstAbove(from, floor)))).toEqual(naiveTop(row, k));
      }
    }
  });
});
