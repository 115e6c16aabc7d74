import { describe, it, expect } from 'vitest';
import { createNucleusScratch, selectNucleus, type CandidateSet, type NucleusScratch } from '../../../kernels/nucleus.js';
import { NonFiniteLogitsError } from '../../../kernels/non-finite-logits.js';
import { SeededRandom } from '../../../kernels/seeded-random.js';
import { referenceCut, referenceDistribution } from '../../helpers/reference-sampler.js';

const logRow = (...probs: number[]) => new Float32Array(probs.map(Math.log));
/** The set in id order (top-k by heap lists it in rank order). */
const byId = (set: CandidateSet) =>
  Array.from(set.ids.subarray(0, set.count), (id, j) => ({ id, p: set.probs[j] })).sort((a, b) => a.id - b.id);
const ids = (set: CandidateSet) => byId(set).map((e) => e.id);
const probs = (set: CandidateSet) => byId(set).map((e) => e.p);
const nucleus = (logits: Float32Array, topK: number, topP: number, minP: number, scratch?: NucleusScratch, temperature = 1) =>
  selectNucleus(logits, { temperature, topK, topP, minP }, scratch);

function expectProbs(set: CandidateSet, expected: number[], digits = 6) {
  expect(set.count).toBe(expected.length);
  probs(set).forEach((p, j) => expect(p).toBeCloseTo(expected[j], digits));
}

describe('selectNucleus: top-k', () => {
  it('keeps the k most likely, renormalized, in id order', () => {
    const set = nucleus(logRow(0.1, 0.4, 0.2, 0.3), 2, 1, 0);
    expect(ids(set)).toEqual([1, 3]);
    expectProbs(set, [0.4 / 0.7, 0.3 / 0.7]);
  });

  it('top-k >= vocabulary is no cut', () => {
    const set = nucleus(logRow(0.1, 0.9), 5, 1, 0);
    expect(ids(set)).toEqual([0, 1]);
    expectProbs(set, [0.1, 0.9]);
  });

  it('ties at the boundary go to the lower ids', () => {
    expect(ids(nucleus(new Float32Array([1, 3, 2, 3, 2, 2]), 3, 1, 0))).toEqual([1, 2, 3]);
  });
});

describe('selectNucleus: top-p', () => {
  it('keeps the smallest prefix whose mass reaches topP', () => {
    const logits = logRow(0.1, 0.4, 0.2, 0.3);
    // sorted: 0.4 (id1), 0.3 (id3), 0.2 (id2), 0.1 (id0); cumulative 0.4, 0.7, 0.9, 1.0
    const sixty = nucleus(logits, 0, 0.6, 0);
    expect(ids(sixty)).toEqual([1, 3]);
    expectProbs(sixty, [0.4 / 0.7, 0.3 / 0.7]);
    expect(ids(nucleus(logits, 0, 0.75, 0))).toEqual([1, 2, 3]);
    expect(ids(nucleus(logits, 0, 0.01, 0))).toEqual([1]); // at least one token
  });

  it('includes the token where the cumulative mass lands exactly on topP', () => {
    const flat = new Float32Array(4);
    const half = nucleus(flat, 0, 0.5, 0);
    expect(ids(half)).toEqual([0, 1]);
    expectProbs(half, [0.5, 0.5], 12);
    expect(ids(nucleus(flat, 0, 0.5000001, 0))).toEqual([0, 1, 2]);
  });

  it('applies top-p to the top-k renormalized distribution', () => {
    const logits = logRow(0.1, 0.4, 0.2, 0.3);
    expect(ids(nucleus(logits, 2, 0.55, 0))).toEqual([1]);
    expect(ids(nucleus(logits, 0, 0.55, 0))).toEqual([1, 3]);
  });

  it('finds the nucleus of a peaked 152,064-token row', () => {
    const vocab = 152_064;
    const logits = new Float32Array(vocab); // background logit 0: weight 1 each
    logits[1000] = 20;
    logits[151_000] = 19;
    logits[7] = 15;
    // p: id1000 0.72731, id151000 0.26756, id7 0.00490; cumulative 0.72731, 0.99487, 0.99977
    const scratch = createNucleusScratch();
    const ninety = nucleus(logits, 0, 0.9, 0, scratch);
    expect(ids(ninety)).toEqual([1000, 151_000]);
    expectProbs(ninety, [0.731059, 0.268941]);
    const more = nucleus(logits, 0, 0.995, 0, scratch);
    expect(ids(more)).toEqual([7, 1000, 151_000]);
    expectProbs(more, [0.004902, 0.727475, 0.267623]);
  });

  it('equal logits: the cut is exact and goes by id', () => {
    const flat = new Float32Array(1024);
    const hundred = nucleus(flat, 0, 100 / 1024, 0);
    expect(ids(hundred)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    probs(hundred).forEach((p) => expect(p).toBeCloseTo(0.01, 12));
    expect(nucleus(flat, 0, 0.5, 0).count).toBe(512);
  });

  it('a tie as wide as the vocabulary is cut by id without sorting it (rank-cut sorts 64 candidates at most)', () => {
    // 151,936 equal logits, or two levels: the boundary's bucket holds every tied id. Rank order among equal values
    // is id order, the list's own; sorting them cost 10-25 ms a token.
    const equal = new Float32Array(151_936);
    const twoLevels = Float32Array.from({ length: 151_936 }, (_, i) => i % 2);
    const scratch = createNucleusScratch();
    const cut = (logits: Float32Array, topK: number, topP: number) => {
      const set = nucleus(logits, topK, topP, 0, scratch);
      return Array.from(set.ids.subarray(0, set.count)); // id order: these paths keep the list's
    };
    const sort = Array.prototype.sort;
    let largest = 0;
    Array.prototype.sort = function <T>(this: T[], compare?: (a: T, b: T) => number) {
      largest = Math.max(largest, this.length);
      return sort.call(this, compare) as T[];
    };
    let results: number[][];
    try {
      results = [cut(equal, 0, 0.1), cut(equal, 5_000, 1), cut(twoLevels, 0, 0.9), cut(twoLevels, 100_000, 1)];
    } finally {
      Array.prototype.sort = sort;
    }
    expect(largest).toBeLessThanOrEqual(64);
    const [tenth, top5000, nucleus90, top100000] = results;
    expect(tenth).toEqual(Array.from({ length: 15_194 }, (_, i) => i));
    expect(top5000).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    // The ones (weight 1) first, then the zeros (weight 1/e) by id until 0.9 of the mass: 47,720.96 of them.
    const half = twoLevels.length / 2;
    const zeros = Math.ceil((0.9 * half * (1 + Math.exp(-1)) - half) / Math.exp(-1));
    expect(nucleus90.length).toBe(half + zeros);
    expect(nucleus90.filter((id) => id % 2 === 0)).toEqual(Array.from({ length: zeros }, (_, j) => 2 * j));
    expect(top100000.filter((id) => id % 2 === 0)).toEqual(Array.from({ length: 100_000 - half }, (_, j) => 2 * j));
  });
});

describe('selectNucleus: min-p', () => {
  it('keeps p >= minP * p_max', () => {
    const set = nucleus(logRow(0.05, 0.5, 0.15, 0.3), 0, 1, 0.25);
    expect(ids(set)).toEqual([1, 2, 3]);
    expectProbs(set, [0.5 / 0.95, 0.15 / 0.95, 0.3 / 0.95]);
  });

  it('minP 1 keeps exactly the tied maxima', () => {
    const set = nucleus(new Float32Array([0, 2, 2, 1]), 0, 1, 1);
    expect(ids(set)).toEqual([1, 2]);
    expectProbs(set, [0.5, 0.5], 12);
  });

  it('runs after top-p', () => {
    // top-p 0.9 keeps 0.5, 0.3, 0.15; min-p 0.5 (threshold 0.25) then drops 0.15
    const set = nucleus(logRow(0.5, 0.3, 0.15, 0.05), 0, 0.9, 0.5);
    expect(ids(set)).toEqual([0, 1]);
    expectProbs(set, [0.625, 0.375]);
  });
});

describe('selectNucleus: non-finite rows', () => {
  it('never lists -Infinity', () => {
    const logits = new Float32Array([0, -Infinity, -Infinity, 0]);
    expect(ids(nucleus(logits, 0, 1, 0.01))).toEqual([0, 3]);
    expect(ids(nucleus(logits, 3, 1, 0))).toEqual([0, 3]);
  });

  it('throws NonFiniteLogitsError for NaN, +Infinity, or no finite entry', () => {
    const cases: [Float32Array, string][] = [
      [new Float32Array([0, NaN, 1]), 'nan'],
      [new Float32Array([NaN, NaN]), 'nan'],
      [new Float32Array([1, Infinity, 2]), 'infinity'],
      [new Float32Array([-Infinity, -Infinity]), 'no-finite'],
      [new Float32Array(0), 'no-finite'],
    ];
    for (const [row, kind] of cases) {
      for (const [k, p, m] of [[0, 1, 0], [2, 1, 0], [0, 0.9, 0], [0, 1, 0.1]]) {
        let caught: unknown = null;
        try {
          nucleus(row, k, p, m);
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(NonFiniteLogitsError);
        expect((caught as NonFiniteLogitsError).kind).toBe(kind);
      }
    }
  });
});

describe('selectNucleus: exact probabilities against the full-sort reference', () => {
  const CASES = 4 * 4 * 11;
  const settings = [
    { temperature: 1, topK: 0, topP: 1, minP: 0 },
    { temperature: 0.7, topK: 0, topP: 1, minP: 0 },
    { temperature: 1.3, topK: 5, topP: 1, minP: 0 },
    { temperature: 1, topK: 0, topP: 0.8, minP: 0 },
    { temperature: 0.5, topK: 0, topP: 0.95, minP: 0 },
    { temperature: 1, topK: 0, topP: 1, minP: 0.1 },
    { temperature: 0.8, topK: 20, topP: 0.9, minP: 0.05 },
    { temperature: 1.2, topK: 0, topP: 0.5, minP: 0.2 },
    { temperature: 1e-4, topK: 0, topP: 0.9, minP: 0 },
    // Above 2,048, top-k is a threshold search by bucketing rather than a heap.
    { temperature: 1, topK: 3000, topP: 1, minP: 0 },
    { temperature: 0.9, topK: 2500, topP: 0.9, minP: 0.01 },
  ];
  const rowKinds = {
    flat: (rng: SeededRandom, v: number) => Float32Array.from({ length: v }, () => -4 + 8 * rng.next()),
    peaked: (rng: SeededRandom, v: number) => Float32Array.from({ length: v }, (_, i) => (i % 17 === 3 ? 10 * rng.next() : -40 + 20 * rng.next())),
    ties: (rng: SeededRandom, v: number) => Float32Array.from({ length: v }, () => Math.floor(rng.next() * 4)),
    masked: (rng: SeededRandom, v: number) => Float32Array.from({ length: v }, () => (rng.next() < 0.5 ? -Infinity : 3 * rng.next())),
  };

  /**
   * Every id's probability to float32 rounding (the weights are float32 e^x of float32 (logit - max) / T, summed
   * in float64: within 1e-6 relative), plus 1e-9 absolute: ids the kernel leaves out (below max - cut) must have
   * less than that.
   */
  function expectSameDistribution(set: CandidateSet, expected: { id: number; p: number }[]) {
    const got = new Map(byId(set).map((e) => [e.id, e.p]));
    const want = new Map(expected.map((e) => [e.id, e.p]));
    for (const id of got.keys()) expect(want.has(id)).toBe(true);
    for (const [id, p] of want) expect(Math.abs((got.get(id) ?? 0) - p)).toBeLessThan(1e-6 * p + 1e-9);
  }

  it('matches in set and probability (float32 rounding) on small vocabularies, every filter, every row kind', () => {
    const rng = new SeededRandom(11);
    const scratch = createNucleusScratch();
    let compared = 0;
    for (const [kind, make] of Object.entries(rowKinds)) {
      for (const vocab of [7, 64, 300, 5000]) {
        const logits = make(rng, vocab);
        if (kind === 'masked') logits[0] = 1;
        for (const s of settings) {
          const reference = referenceCut(logits, s);
          // A cut that float rounding decides is skipped (equal logits whose count times topP is an integer).
          if (reference.ambiguous) continue;
          expectSameDistribution(selectNucleus(logits, s, scratch), reference.kept);
          compared++;
        }
      }
    }
    // Only cuts that rounding decides are skipped: a handful at most.
    expect(compared).toBeGreaterThan(CASES - 4);
  });

  it('at V = 151,936 the top-k set and its probabilities equal the reference', () => {
    const rng = new SeededRandom(12);
    const scratch = createNucleusScratch();
    for (const make of [rowKinds.flat, rowKinds.peaked]) {
      const logits = make(rng, 151_936);
      for (const topK of [1, 50, 1000, 4000]) {
        const set = selectNucleus(logits, { temperature: 0.9, topK, topP: 1, minP: 0 }, scratch);
        const expected = referenceDistribution(logits, { temperature: 0.9, topK, topP: 1, minP: 0 });
        expect(ids(set)).toEqual(expected.map((e) => e.id));
        probs(set).forEach((p, j) => expect(Math.abs(p - expected[j].p)).toBeLessThan(1e-9));
      }
    }
  });
});
