import { describe, it, expect } from 'vitest';
import { createNucleusScratch, selectNucleus, type CandidateSet } from '../../../kernels/nucleus.js';
import { SeededRandom } from '../../../kernels/seeded-random.js';

const logRow = (...probs: number[]) => new Float32Array(probs.map(Math.log));
const ids = (set: CandidateSet) => Array.from(set.ids.subarray(0, set.count));
const probs = (set: CandidateSet) => Array.from(set.probs.subarray(0, set.count));

function expectProbs(set: CandidateSet, expected: number[], digits = 6) {
  expect(set.count).toBe(expected.length);
  probs(set).forEach((p, j) => expect(p).toBeCloseTo(expected[j], digits));
}

/** Independent reference for top-p: full sort, float64 softmax, smallest prefix reaching topP. */
function naiveTopP(values: Float32Array, topP: number): number[] {
  const max = Math.max(...values);
  const order = Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b);
  const z = order.reduce((sum, i) => sum + Math.exp(values[i] - max), 0);
  const kept: number[] = [];
  let cumulative = 0;
  for (const i of order) {
    kept.push(i);
    cumulative += Math.exp(values[i] - max) / z;
    if (cumulative >= topP) break;
  }
  return kept;
}

describe('selectNucleus: top-k', () => {
  it('keeps the k most likely, renormalized', () => {
    const set = selectNucleus(logRow(0.1, 0.4, 0.2, 0.3), 2, 1, 0);
    expect(ids(set)).toEqual([1, 3]);
    expectProbs(set, [0.4 / 0.7, 0.3 / 0.7]); // 0.5714, 0.4286
  });

  it('top-k >= vocabulary is no cut', () => {
    const set = selectNucleus(logRow(0.1, 0.9), 5, 1, 0);
    expect(ids(set)).toEqual([0, 1]); // id order: nothing needed ranking
    expectProbs(set, [0.1, 0.9]);
  });
});

describe('selectNucleus: top-p', () => {
  it('keeps the smallest prefix whose mass reaches topP', () => {
    const logits = logRow(0.1, 0.4, 0.2, 0.3);
    // sorted: 0.4 (id1), 0.3 (id3), 0.2 (id2), 0.1 (id0); cumulative 0.4, 0.7, 0.9, 1.0
    const sixty = selectNucleus(logits, 0, 0.6, 0);
    expect(ids(sixty)).toEqual([1, 3]);
    expectProbs(sixty, [0.4 / 0.7, 0.3 / 0.7]);
    expect(ids(selectNucleus(logits, 0, 0.75, 0))).toEqual([1, 3, 2]);
    expect(ids(selectNucleus(logits, 0, 0.01, 0))).toEqual([1]); // at least one token
  });

  it('includes the token where the cumulative mass lands exactly on topP', () => {
    // Four equal logits: each p = 1/4 exactly; after two tokens the sum is exactly 0.5.
    const flat = new Float32Array(4);
    const half = selectNucleus(flat, 0, 0.5, 0);
    expect(ids(half)).toEqual([0, 1]);
    expectProbs(half, [0.5, 0.5], 12);
    // A hair above 0.5 needs the third token.
    expect(ids(selectNucleus(flat, 0, 0.5000001, 0))).toEqual([0, 1, 2]);
  });

  it('applies top-p to the top-k renormalized distribution', () => {
    const logits = logRow(0.1, 0.4, 0.2, 0.3);
    // After top-k 2: 0.5714, 0.4286; the first alone already reaches 0.55.
    expect(ids(selectNucleus(logits, 2, 0.55, 0))).toEqual([1]);
    // Without top-k the first holds only 0.4 < 0.55.
    expect(ids(selectNucleus(logits, 0, 0.55, 0))).toEqual([1, 3]);
  });

  it('finds the nucleus of a peaked 152,064-token row', () => {
    const vocab = 152_064;
    const logits = new Float32Array(vocab); // background logit 0: weight 1 each
    logits[1000] = 20;
    logits[151_000] = 19;
    logits[7] = 15;
    // Z = e^20 + e^19 + e^15 + 152061 = 6.6707e8
    // p: id1000 0.72731, id151000 0.26756, id7 0.00490, each background 1.5e-9
    // cumulative: 0.72731, 0.99487, 0.99977
    const scratch = createNucleusScratch();
    const ninety = selectNucleus(logits, 0, 0.9, 0, scratch);
    expect(ids(ninety)).toEqual([1000, 151_000]);
    // renormalized: 1 / (1 + e^-1) = 0.731059, e^-1 / (1 + e^-1) = 0.268941
    expectProbs(ninety, [0.731059, 0.268941]);
    const more = selectNucleus(logits, 0, 0.995, 0, scratch);
    expect(ids(more)).toEqual([1000, 151_000, 7]);
    // e^20, e^19, e^15 renormalized among themselves
    expectProbs(more, [0.727475, 0.267623, 0.004902]);
  });

  it('doubles the window when 64 candidates are not enough', () => {
    // 1024 equal logits: every p = 2^-10 exactly, so cumulative sums are exact.
    const flat = new Float32Array(1024);
    const hundred = selectNucleus(flat, 0, 100 / 1024, 0); // window 64 -> 128
    expect(ids(hundred)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    probs(hundred).forEach((p) => expect(p).toBeCloseTo(0.01, 12));
    const half = selectNucleus(flat, 0, 0.5, 0); // window 64 -> 128 -> 256 -> 512, exact hit
    expect(half.count).toBe(512);
    expect(half.ids[511]).toBe(511);
  });

  it('matches a full-sort reference on flat random rows (doubling path)', () => {
    const rng = new SeededRandom(11);
    const scratch = createNucleusScratch();
    for (const topP of [0.3, 0.9, 0.99]) {
      const logits = new Float32Array(3000);
      for (let i = 0; i < logits.length; i++) logits[i] = 2 * rng.next();
      const set = selectNucleus(logits, 0, topP, 0, scratch);
      expect(set.count).toBeGreaterThan(64);
      expect(ids(set)).toEqual(naiveTopP(logits, topP));
      expect(probs(set).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });
});

describe('selectNucleus: min-p', () => {
  it('keeps p >= minP * p_max, in id order when it is the only filter', () => {
    // p_max 0.5, minP 0.25 -> threshold 0.125: drops id0 (0.05)
    const set = selectNucleus(logRow(0.05, 0.5, 0.15, 0.3), 0, 1, 0.25);
    expect(ids(set)).toEqual([1, 2, 3]);
    expectProbs(set, [0.5 / 0.95, 0.15 / 0.95, 0.3 / 0.95]); // 0.5263, 0.1579, 0.3158
  });

  it('minP 1 keeps exactly the tied maxima', () => {
    const set = selectNucleus(new Float32Array([0, 2, 2, 1]), 0, 1, 1);
    expect(ids(set)).toEqual([1, 2]);
    expectProbs(set, [0.5, 0.5], 12);
  });

  it('runs after top-p', () => {
    const logits = logRow(0.5, 0.3, 0.15, 0.05);
    // top-p 0.9: 0.5 + 0.3 + 0.15 = 0.95 keeps three; min-p 0.5: threshold 0.25 drops 0.15
    const set = selectNucleus(logits, 0, 0.9, 0.5);
    expect(ids(set)).toEqual([0, 1]);
    expectProbs(set, [0.625, 0.375]); // 0.5/0.8, 0.3/0.8
  });
});

describe('selectNucleus: masked rows', () => {
  it('never lists -Infinity or NaN', () => {
    const logits = new Float32Array([0, -Infinity, NaN, 0]);
    expect(ids(selectNucleus(logits, 0, 1, 0.01))).toEqual([0, 3]);
    expect(ids(selectNucleus(logits, 3, 1, 0))).toEqual([0, 3]);
  });

  it('gives an empty set for an all-masked row and a single id for +Infinity', () => {
    const masked = new Float32Array([-Infinity, -Infinity]);
    expect(selectNucleus(masked, 0, 0.9, 0).count).toBe(0);
    expect(selectNucleus(masked, 1, 1, 0).count).toBe(0);
    const infinite = new Float32Array([1, Infinity, 2, Infinity]);
    for (const set of [selectNucleus(infinite, 0, 0.9, 0), selectNucleus(infinite, 2, 1, 0)]) {
      expect(ids(set)).toEqual([1]);
      expect(probs(set)).toEqual([1]);
    }
  });
});
