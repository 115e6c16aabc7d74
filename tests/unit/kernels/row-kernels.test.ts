import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { float32AtLeast, float32Step, smallestFloat32Where } from '../../../kernels/float32-bounds.js';
import { EXP_BUCKETS, EXP_FLOOR, RowKernels } from '../../../kernels/row-kernels.js';
import { SeededRandom } from '../../../kernels/seeded-random.js';
import { buildRowKernelsModule } from '../../../scripts/build-wasm.js';

const f32 = Math.fround;

/** Rows of every length around the 4-lane blocks, with values a row of logits can hold. */
function rows(rng: SeededRandom): Float32Array[] {
  const out: Float32Array[] = [];
  for (let n = 1; n <= 13; n++) out.push(Float32Array.from({ length: n }, () => -30 + 40 * rng.next()));
  out.push(Float32Array.from({ length: 5003 }, () => -90 + 100 * rng.next()));
  out.push(Float32Array.from({ length: 4096 }, () => Math.floor(rng.next() * 5)));
  return out;
}

/** The float32 arithmetic the SIMD passes do for x: (value - max) * scale, each step rounded to float32. */
const scaled = (value: number, max: number, scale: number) => f32(f32(value - max) * f32(scale));

describe('RowKernels (WebAssembly SIMD)', () => {
  it('the committed module is the build of wasm/row-kernels.ts', () => {
    expect(readFileSync(new URL('../../../kernels/row-kernels-wasm.ts', import.meta.url), 'utf8')).toBe(buildRowKernelsModule());
  });

  it('rowMax, firstIndexOf and firstAbove equal plain loops at every length; NaN anywhere makes the max NaN', () => {
    const k = new RowKernels();
    const rng = new SeededRandom(1);
    for (const row of rows(rng)) {
      k.loadRow(row);
      const max = Math.max(...row);
      expect(k.rowMax()).toBe(max);
      expect(k.firstIndexOf(max)).toBe(row.indexOf(max));
      const threshold = row[Math.floor(rng.next() * row.length)];
      for (const from of [0, 1, 2, 3, 5, row.length - 1]) {
        const expected = row.findIndex((v, i) => i >= from && v > threshold);
        expect(k.firstAbove(from, threshold)).toBe(expected < 0 ? row.length : expected);
      }
      for (const at of [0, row.length - 1, Math.floor(row.length / 2)]) {
        const broken = row.slice();
        broken[at] = NaN;
        k.loadRow(broken);
        expect(k.rowMax()).toBeNaN();
      }
    }
    k.loadRow(Float32Array.of(-Infinity, -Infinity, -Infinity));
    expect(k.rowMax()).toBe(-Infinity);
  });

  it('compact keeps exactly the entries >= floor in id order, and their min', () => {
    const k = new RowKernels();
    const rng = new SeededRandom(2);
    for (const row of rows(rng)) {
      const floor = row[Math.floor(rng.next() * row.length)];
      k.loadRow(row);
      const { count, min } = k.compact(floor);
      const expected = Array.from(row.keys()).filter((i) => row[i] >= floor);
      expect(Array.from(k.ids.subarray(0, count))).toEqual(expected);
      expect(Array.from(k.values.subarray(0, count))).toEqual(expected.map((i) => row[i]));
      expect(min).toBe(Math.min(...expected.map((i) => row[i])));
    }
  });

  it('e^x within 2 float32 ulps of Math.exp of the float32 x, 0 at or below the floor; expSum is their float64 sum', () => {
    const k = new RowKernels();
    const xs = Float32Array.from({ length: 20_001 }, (_, i) => -i * 0.0041);
    k.loadRow(xs);
    const { count } = k.compact(-Infinity);
    const total = k.weigh(count, 0, 1, false);
    let worst = 0;
    let sum = 0;
    for (let j = 0; j < count; j++) {
      const x = xs[j];
      if (x <= EXP_FLOOR) {
        expect(k.weights[j]).toBe(0);
        continue;
      }
      const exact = Math.exp(x);
      worst = Math.max(worst, Math.abs(k.weights[j] / exact - 1));
      sum += k.weights[j];
    }
    expect(worst).toBeLessThan(2 * 2 ** -23);
    expect(Math.abs(total / sum - 1)).toBeLessThan(1e-14);
    expect(Math.abs(k.expSum(0, 1) / sum - 1)).toBeLessThan(1e-14);
    let above = 0;
    for (let j = 0; j < count; j++) if (xs[j] > -30) above += k.weights[j];
    expect(Math.abs(k.expSum(0, 1, -30) / above - 1)).toBeLessThan(1e-14);
    expect(above).toBeLessThan(sum);
  });

  it('buckets are round(-64 x) in rank order, and each bucket mass is the sum of its weights', () => {
    const k = new RowKernels();
    const rng = new SeededRandom(3);
    for (const row of rows(rng)) {
      k.loadRow(row);
      const max = k.rowMax();
      const { count } = k.compact(-Infinity);
      const scale = 1 / 0.7;
      const total = k.weigh(count, max, scale, true);
      const mass = new Float64Array(EXP_BUCKETS);
      for (let j = 0; j < count; j++) {
        const x = scaled(k.values[j], max, scale);
        const bucket = k.buckets[j];
        if (x > EXP_FLOOR) expect(Math.abs(bucket - -64 * x)).toBeLessThanOrEqual(0.5);
        else expect(bucket).toBe(EXP_BUCKETS - 1);
        mass[bucket] += k.weights[j];
      }
      for (let a = 0; a < count; a++) {
        const b = (a * 7919 + 13) % count;
        if (k.values[a] > k.values[b]) expect(k.buckets[a]).toBeLessThanOrEqual(k.buckets[b]);
        if (k.values[a] === k.values[b]) expect(k.buckets[a]).toBe(k.buckets[b]);
      }
      mass.forEach((m, b) => expect(k.mass[b]).toBeCloseTo(m, 12));
      expect(total).toBeCloseTo(mass.reduce((s, m) => s + m, 0), 12);
    }
  });

  it('sumRanked and pickCumulative equal plain walks over the members, whatever was left past count', () => {
    const k = new RowKernels();
    const rng = new SeededRandom(4);
    for (const row of rows(rng)) {
      k.loadRow(row);
      const max = k.rowMax();
      const full = k.compact(-Infinity).count;
      k.weigh(full, max, 1, false);
      // A cut that shortened the list leaves real candidates past its count: they must not count.
      const count = Math.max(1, full - Math.floor(rng.next() * 3));
      const pick = Math.floor(rng.next() * count);
      const boundaryValue = k.values[pick];
      const boundaryId = rng.next() < 0.5 ? k.ids[pick] : 0x7fffffff;
      const member = (j: number) => k.values[j] > boundaryValue || (k.values[j] === boundaryValue && k.ids[j] <= boundaryId);
      let total = 0;
      for (let j = 0; j < count; j++) if (member(j)) total += k.weights[j];
      expect(k.sumRanked(count, boundaryValue, boundaryId)).toBeCloseTo(total, 12);
      for (const u of [0, 0.25, 0.5, 0.999999, rng.next()]) {
        const target = u * total;
        let cumulative = 0;
        let expected = -1;
        for (let j = 0; j < count && expected < 0; j++) {
          if (!member(j) || !(k.weights[j] > 0)) continue;
          cumulative += k.weights[j];
          if (target < cumulative) expected = j;
        }
        const got = k.pickCumulative(count, boundaryValue, boundaryId, target);
        // Block sums may round differently from one-at-a-time sums: only a target within rounding of a boundary may differ.
        if (got !== expected) {
          let before = 0;
          for (let j = 0; j < Math.min(got, expected); j++) if (member(j)) before += k.weights[j];
          expect(Math.abs(before + k.weights[Math.min(got, expected)] - target)).toBeLessThan(1e-12 * total);
        }
        expect(member(got)).toBe(true);
      }
      // A target past the total falls back to the last member with a positive weight.
      let last = -1;
      for (let j = 0; j < count; j++) if (member(j) && k.weights[j] > 0) last = j;
      expect(k.pickCumulative(count, boundaryValue, boundaryId, total * 2)).toBe(last);
    }
  });

  it('nextInBucket finds every member of a bucket in order', () => {
    const k = new RowKernels();
    const row = Float32Array.from({ length: 1001 }, (_, i) => -((i * 37) % 11) / 64);
    k.loadRow(row);
    const { count } = k.compact(-Infinity);
    k.weigh(count, 0, 1, true);
    for (let bucket = 0; bucket < 12; bucket++) {
      const found: number[] = [];
      for (let j = k.nextInBucket(0, count, bucket); j < count; j = k.nextInBucket(j + 1, count, bucket)) found.push(j);
      expect(found).toEqual(Array.from(k.buckets.subarray(0, count).keys()).filter((j) => k.buckets[j] === bucket));
    }
  });
});

describe('float32 bounds', () => {
  it('float32AtLeast is the smallest float32 not below x; smallestFloat32Where finds a monotone predicate\'s edge', () => {
    const rng = new SeededRandom(5);
    for (let t = 0; t < 2000; t++) {
      const x = (rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 8 - 4);
      const v = float32AtLeast(x);
      expect(v).toBeGreaterThanOrEqual(x);
      expect(float32Step(v, -1)).toBeLessThan(x);
      const logMinP = Math.log(rng.next());
      const max = f32(20 * rng.next());
      const temperature = 0.1 + rng.next();
      const holds = (value: number) => (value - max) / temperature >= logMinP;
      const edge = smallestFloat32Where(holds, max + temperature * logMinP);
      expect(holds(edge)).toBe(true);
      expect(holds(float32Step(edge, -1))).toBe(false);
    }
    expect(float32Step(0, 1)).toBe(2 ** -149);
    expect(float32Step(0, -1)).toBe(-(2 ** -149));
  });
});
