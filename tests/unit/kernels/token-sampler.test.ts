import { describe, it, expect } from 'vitest';
import { createSamplerScratch, sampleToken } from '../../../kernels/token-sampler.js';
import { DEFAULT_SAMPLING, type SamplingParams } from '../../../kernels/sampling-params.js';
import { SeededRandom, type RandomSource } from '../../../kernels/seeded-random.js';

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
    work.set(logits); // the sampler scales its input in place
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

  it('walks filtered candidates in descending order', () => {
    // top-k 2 of [0.2, 0.5, 0.3]: id1 0.625, then id2 0.375 -> cumulative 0.625, 1.0
    const p = params({ topK: 2 });
    expect(sampleToken(logRow(0.2, 0.5, 0.3), p, fixedDraw(0.6))).toBe(1);
    expect(sampleToken(logRow(0.2, 0.5, 0.3), p, fixedDraw(0.65))).toBe(2);
    expect(sampleToken(logRow(0.2, 0.5, 0.3), p, fixedDraw(0.99))).toBe(2); // never id0
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
    sampleToken(new Float32Array([-Infinity, -Infinity]), params({ topP: 0.9 }), masked);
    expect(masked.draws).toBe(1);
  });

  it('divides the logits by the temperature in place', () => {
    const logits = new Float32Array([2, 4]);
    sampleToken(logits, params({ temperature: 2 }), fixedDraw(0.5));
    expect(Array.from(logits)).toEqual([1, 2]);
  });

  it('falls back to argmax on fully masked rows and to the +Infinity id', () => {
    expect(sampleToken(new Float32Array([-Infinity, -Infinity]), DEFAULT_SAMPLING, fixedDraw(0.5))).toBe(0);
    expect(sampleToken(new Float32Array([0, -Infinity]), params({ topK: 1 }), fixedDraw(0.5))).toBe(0);
    expect(sampleToken(new Float32Array([0, Infinity, 3]), DEFAULT_SAMPLING, fixedDraw(0.1))).toBe(1);
    expect(sampleToken(new Float32Array([0, Infinity, 3]), params({ topP: 0.5 }), fixedDraw(0.1))).toBe(1);
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
