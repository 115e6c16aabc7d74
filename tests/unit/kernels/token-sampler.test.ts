import { describe, it, expect } from 'vitest';
import { createSamplerScratch, sampleToken } from '../../../kernels/token-sampler.js';
import { DEFAULT_SAMPLING, type SamplingParams } from '../../../kernels/sampling-params.js';
import { SeededRandom, type RandomSource } from '../../../kernels/seeded-random.js';
import { NonFiniteLogitsError } from '../../../kernels/non-finite-logits.js';
import { referenceDistribution } from '../../helpers/reference-sampler.js';

const logRow = (...probs: number[]) => new Float32Array(probs.map(Math.log));
const params = (overrides: Partial<SamplingParams>): SamplingParams => ({
  ...DEFAULT_SAMPLING,
  ...overrides,
});

/** Always returns `value`; counts how many draws were taken. */
function fixedDraw(value: number): RandomSource & { draws: number } {
  return {
    draws: 0,
    next() {
      this.draws++;
      return value;
    },
  };
}

function frequencies(logits: Float32Array, p: SamplingParams, samples: number, seed: number) {
  const rng = new SeededRandom(seed);
  const scratch = createSamplerScratch();
  const work = new Float32Array(logits.length);
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < samples; i++) {
    work.set(logits);
    counts[sampleToken(work, p, rng, scratch)]++;
  }
  return counts.map((c) => c / samples);
}

function expectFrequencies(actual: number[], expected: number[]) {
  actual.forEach((f, i) => expect(Math.abs(f - expected[i])).toBeLessThan(0.02));
}

describe('sampleToken: greedy', () => {
  it('temperature 0 takes the argmax and leaves the rng alone', () => {
    const rng = fixedDraw(0);
    expect(sampleToken(new Float32Array([1, 5, 5, 2]), params({ temperature: 0 }), rng)).toBe(1);
    expect(rng.draws).toBe(0);
  });

  it('topK 1 is greedy too, whatever the temperature', () => {
    const rng = fixedDraw(0.99);
    expect(sampleToken(new Float32Array([1, 3, 2]), params({ topK: 1, temperature: 1.5 }), rng)).toBe(1);
    expect(rng.draws).toBe(0);
  });

  it('greedy results do not depend on the seed', () => {
    const logits = logRow(0.2, 0.5, 0.3);
    const a = sampleToken(logits.slice(), params({ temperature: 0 }), new SeededRandom(1));
    const b = sampleToken(logits.slice(), params({ temperature: 0 }), new SeededRandom(999));
    expect([a, b]).toEqual([1, 1]);
  });
});

describe('sampleToken: the draw', () => {
  it('walks the unfiltered softmax in id order', () => {
    // p = 0.5, 0.3, 0.2 -> cumulative 0.5, 0.8, 1.0
    const cases: [number, number][] = [[0, 0], [0.49, 0], [0.51, 1], [0.79, 1], [0.81, 2], [0.9999999, 2]];
    for (const [u, expected] of cases) {
      expect(sampleToken(logRow(0.5, 0.3, 0.2), DEFAULT_SAMPLING, fixedDraw(u))).toBe(expected);
    }
  });

  it('walks filtered candidates in id order too', () => {
    // top-k 2 of [0.2, 0.5, 0.3]: id1 0.625, id2 0.375 -> cumulative 0.625, 1.0
    const p = params({ topK: 2 });
    expect(sampleToken(logRow(0.2, 0.5, 0.3), p, fixedDraw(0.6))).toBe(1);
    expect(sampleToken(logRow(0.2, 0.5, 0.3), p, fixedDraw(0.65))).toBe(2);
    expect(sampleToken(logRow(0.2, 0.5, 0.3), p, fixedDraw(0.99))).toBe(2); // never id0
    // top-k 2 of [0.5, 0.2, 0.3]: id0 0.625 then id2 0.375
    expect(sampleToken(logRow(0.5, 0.2, 0.3), p, fixedDraw(0.6))).toBe(0);
    expect(sampleToken(logRow(0.5, 0.2, 0.3), p, fixedDraw(0.7))).toBe(2);
  });

  it('a draw exactly on a cumulative boundary belongs to the next token', () => {
    // Four equal logits: p = 0.25 each, exact. u = 0.25 is the start of id1's interval [0.25, 0.5).
    expect(sampleToken(new Float32Array(4), DEFAULT_SAMPLING, fixedDraw(0.25))).toBe(1);
    // top-k 2 keeps ids 0, 1 at 0.5 each; u = 0.5 starts id1's interval.
    expect(sampleToken(new Float32Array(4), params({ topK: 2 }), fixedDraw(0.5))).toBe(1);
  });

  it('takes exactly one draw per sampled token, filters or not', () => {
    const settings = [
      DEFAULT_SAMPLING,
      params({ topK: 2 }),
      params({ topP: 0.5 }),
      params({ minP: 0.1 }),
      params({ temperature: 0.7, topK: 3, topP: 0.9, minP: 0.05 }),
    ];
    for (const p of settings) {
      const rng = fixedDraw(0.3);
      sampleToken(logRow(0.1, 0.2, 0.3, 0.4), p, rng);
      expect(rng.draws).toBe(1);
    }
    const masked = fixedDraw(0.3);
    sampleToken(new Float32Array([-Infinity, 2, -Infinity]), params({ topP: 0.9 }), masked);
    expect(masked.draws).toBe(1);
  });

  it('leaves the row as it was', () => {
    const logits = new Float32Array([2, 4, -Infinity]);
    for (const p of [params({ temperature: 2 }), params({ temperature: 0.5, topP: 0.9, topK: 2, minP: 0.1 })]) {
      sampleToken(logits, p, fixedDraw(0.5));
      expect(Array.from(logits)).toEqual([2, 4, -Infinity]);
    }
  });

  it('temperature below 1e-5 is greedy and takes no draw', () => {
    for (const temperature of [1e-38, 1e-6, 9.99e-6]) {
      const rng = fixedDraw(0.99);
      expect(sampleToken(new Float32Array([1, 3, 2.9999]), params({ temperature }), rng)).toBe(1);
      expect(rng.draws).toBe(0);
    }
    // 1e-5 itself samples (here from a distribution that is still all on id1).
    expect(sampleToken(new Float32Array([1, 3, 2.9]), params({ temperature: 1e-5 }), fixedDraw(0.99))).toBe(1);
  });

  it('a row with NaN, +Infinity or no finite entry is an error, never a token, greedy or not', () => {
    const rows = [new Float32Array([0, NaN, 3]), new Float32Array([0, Infinity, 3]), new Float32Array([-Infinity, -Infinity]), new Float32Array([NaN, NaN])];
    for (const row of rows) {
      for (const p of [params({ temperature: 0 }), DEFAULT_SAMPLING, params({ topK: 1 }), params({ topP: 0.5 }), params({ topK: 2, minP: 0.1 })]) {
        expect(() => sampleToken(row, p, fixedDraw(0.1))).toThrow(NonFiniteLogitsError);
      }
    }
  });

  it('never draws a suppressed token', () => {
    const logits = new Float32Array([0, -Infinity, 0]);
    for (const u of [0, 0.4999, 0.5, 0.9999999]) {
      expect(sampleToken(logits.slice(), DEFAULT_SAMPLING, fixedDraw(u))).not.toBe(1);
    }
  });
});

describe('sampleToken: seeded runs', () => {
  const logits = new Float32Array(1000);
  const background = new SeededRandom(5);
  for (let i = 0; i < logits.length; i++) logits[i] = 3 * background.next();

  function run(seed: number, p: SamplingParams): number[] {
    const rng = new SeededRandom(seed);
    const scratch = createSamplerScratch();
    return Array.from({ length: 200 }, () => sampleToken(logits.slice(), p, rng, scratch));
  }

  it('same seed gives the same tokens; different seeds differ', () => {
    for (const p of [DEFAULT_SAMPLING, params({ topP: 0.9, temperature: 0.8 }), params({ topK: 50 })]) {
      expect(run(17, p)).toEqual(run(17, p));
      expect(run(17, p)).not.toEqual(run(18, p));
    }
  });
});

describe('sampleToken: distribution (20,000 draws, within 0.02)', () => {
  const logits = logRow(0.5, 0.3, 0.2);

  it('temperature 1 reproduces the probabilities', () => {
    expectFrequencies(frequencies(logits, DEFAULT_SAMPLING, 20_000, 1), [0.5, 0.3, 0.2]);
  });

  it('temperature 0.5 squares them before renormalizing', () => {
    // 0.25, 0.09, 0.04 over 0.38 -> 0.6579, 0.2368, 0.1053
    expectFrequencies(frequencies(logits, params({ temperature: 0.5 }), 20_000, 2), [0.6579, 0.2368, 0.1053]);
  });

  it('filters renormalize over the survivors', () => {
    // Each of these keeps {0.5, 0.3} -> 0.625, 0.375, 0
    for (const p of [params({ topK: 2 }), params({ topP: 0.7 }), params({ minP: 0.5 })]) {
      expectFrequencies(frequencies(logits, p, 20_000, 3), [0.625, 0.375, 0]);
    }
  });
});

describe('sampleToken: chi-square against the full-sort reference (V = 40, 40,000 draws each)', () => {
  // 99.9th percentile of chi-square: the test fails by chance once in a thousand runs per case; seeds are fixed.
  const CHI2_999 = (df: number) => df + 3.09 * Math.sqrt(2 * df) + 3; // normal approximation, conservative
  const background = new SeededRandom(21);
  const rows = {
    flat: Float32Array.from({ length: 40 }, () => -4 + 8 * background.next()),
    peaked: Float32Array.from({ length: 40 }, (_, i) => (i % 7 === 0 ? 3 * background.next() : -6 + 2 * background.next())),
  };
  const settings = [
    params({}),
    params({ temperature: 0.6 }),
    params({ topK: 10, temperature: 1.4 }),
    params({ topP: 0.8 }),
    params({ minP: 0.1, temperature: 0.9 }),
    params({ topK: 15, topP: 0.9, minP: 0.05, temperature: 0.7 }),
  ];
  for (const [kind, row] of Object.entries(rows)) {
    for (const p of settings) {
      it(`${kind} row, ${JSON.stringify({ t: p.temperature, k: p.topK, p: p.topP, m: p.minP })}`, () => {
        const expected = referenceDistribution(row, p);
        const draws = 40_000;
        const observed = frequencies(row, p, draws, 1234);
        const allowed = new Set(expected.map((e) => e.id));
        observed.forEach((f, id) => {
          if (!allowed.has(id)) expect(f).toBe(0);
        });
        let chi2 = 0;
        let df = -1;
        for (const { id, p: prob } of expected) {
          const e = prob * draws;
          if (e < 5) continue; // the test needs expected counts >= 5
          chi2 += (observed[id] * draws - e) ** 2 / e;
          df++;
        }
        expect(chi2).toBeLessThan(CHI2_999(Math.max(1, df)));
      });
    }
  }
});
