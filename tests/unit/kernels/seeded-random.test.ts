import { describe, it, expect } from 'vitest';
import { SeededRandom, randomSeed } from '../../../kernels/seeded-random.js';

// Expected streams come from the C reference implementations (splitmix64 and xoshiro128**
// by Vigna) seeded as documented: s0 = low32(a), s1 = high32(a), s2 = low32(b), s3 = high32(b)
// with a, b the first two splitmix64 outputs.
const REFERENCE: { seed: bigint; uint32: number[]; doubles: number[] }[] = [
  {
    seed: 0n,
    uint32: [3737715805, 2584255861, 2876756834, 3286328325, 1553311962, 1625202774],
    doubles: [0.87025477440427201, 0.66979715053109778, 0.36165862067339571],
  },
  {
    seed: 42n,
    uint32: [1776835114, 4165204688, 17111135, 2317295270, 2792088233, 2554630222],
    doubles: [0.41370166815658871, 0.0039839933778147429, 0.65008370276388672],
  },
  {
    seed: 0xffffffffffffffffn,
    uint32: [477689756, 2493998634, 555695776, 607808419, 61340979, 301466976],
    doubles: [0.11122081116347982, 0.12938300625619603, 0.014282055722108056],
  },
];

describe('SeededRandom', () => {
  it('matches the C reference stream bit for bit', () => {
    for (const { seed, uint32, doubles } of REFERENCE) {
      const raw = new SeededRandom(seed);
      expect(uint32.map(() => raw.nextUint32())).toEqual(uint32);
      const floats = new SeededRandom(seed);
      expect(doubles.map(() => floats.next())).toEqual(doubles);
    }
  });

  it('treats number and bigint seeds alike, negatives as two\'s complement', () => {
    expect(new SeededRandom(42).next()).toBe(new SeededRandom(42n).next());
    expect(new SeededRandom(-1).next()).toBe(new SeededRandom(0xffffffffffffffffn).next());
    expect(() => new SeededRandom(1.5)).toThrow(RangeError);
    expect(() => new SeededRandom(NaN)).toThrow(RangeError);
  });

  it('different seeds give different streams', () => {
    const a = new SeededRandom(1);
    const b = new SeededRandom(2);
    const streamA = Array.from({ length: 8 }, () => a.next());
    const streamB = Array.from({ length: 8 }, () => b.next());
    expect(streamA).not.toEqual(streamB);
  });

  it('draws uniformly from [0, 1)', () => {
    const rng = new SeededRandom(7n);
    const bins = new Array(10).fill(0);
    const draws = 100_000;
    let lowest = 1;
    let highest = 0;
    for (let i = 0; i < draws; i++) {
      const u = rng.next();
      lowest = Math.min(lowest, u);
      highest = Math.max(highest, u);
      bins[Math.floor(u * 10)]++;
    }
    expect(lowest).toBeGreaterThanOrEqual(0);
    expect(highest).toBeLessThan(1);
    // Each decile expects 10,000 (sd ~95); 600 is over 6 sd.
    for (const count of bins) expect(Math.abs(count - 10_000)).toBeLessThan(600);
  });
});

describe('randomSeed', () => {
  it('returns distinct 64-bit bigints', () => {
    const a = randomSeed();
    const b = randomSeed();
    expect(typeof a).toBe('bigint');
    expect(a >= 0n && a < 1n << 64n).toBe(true);
    expect(a).not.toBe(b);
  });
});
