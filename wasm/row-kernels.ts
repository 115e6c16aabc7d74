// AssemblyScript source of the WebAssembly SIMD passes over a logits row (kernels/row-kernels.ts loads them).
// Build: npm run build:wasm (writes kernels/row-kernels-wasm.ts; a test checks it matches this source).
//
// Every pass reads whole 4-lane blocks: the caller pads each array it hands in to a multiple of 4 entries, with
// -Infinity after the last row value (a padded lane has weight 0 and is never selected), and sizes every output
// array to that padded length. Pointers are byte offsets into this instance's memory, which the caller lays out.

/** At or below this scaled logit a weight is 0 (e^-80 < 2e-35); kernels/row-kernels.ts's EXP_FLOOR. */
const EXP_FLOOR: f32 = -80.0;
/** Buckets per unit of the scaled logit: bucket k holds x with round(-64 x) = k (ties to even), about (-(k + 0.5)/64, -(k - 0.5)/64]. */
const STEPS_PER_UNIT: f32 = 64.0;
/** The bucket of weight-0 entries (kernels/row-kernels.ts's EXP_BUCKETS - 1). */
const ZERO_BUCKET: i32 = 5121;

const LOG2E: f32 = 1.44269504088896341;
// ln 2 split so that n * LN2_HI is exact for |n| < 2^9 (Cody and Waite's argument reduction).
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

/** 1.5 * 2^23: adding it to a float32 of magnitude below 2^22 rounds that float to an integer held in the low bits. */
const ROUNDING_MAGIC: f32 = 12582912.0;
const ROUNDING_MAGIC_BITS: i32 = 0x4b400000;

/**
 * e^x per lane for x in [-87, 0] (float32; callers clamp below and mask the result). Cody-Waite reduction
 * x = n ln 2 + r, |r| <= ln(2)/2 (n rounded with the 1.5 * 2^23 trick, which also leaves n in the low bits), e^r
 * by the degree-7 polynomial of Cephes' expf (S. Moshier, Cephes Math Library, expf.c; evaluated by Estrin's
 * scheme, which halves the chain of dependent multiplies), and 2^n built in the exponent bits. Relative error
 * within 2 float32 ulps.
 */
// @ts-ignore: decorator
@inline function exp4(x: v128): v128 {
  const shifted = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(ROUNDING_MAGIC));
  const n = f32x4.sub(shifted, f32x4.splat(ROUNDING_MAGIC));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  // e^r ~ 1 + r + r^2 (a + r^2 (b + r^2 c)), a = c2 + c3 r, b = c4 + c5 r, c = c6 + c7 r.
  const r2 = f32x4.mul(r, r);
  const a = f32x4.add(f32x4.splat(5.0000001201e-1), f32x4.mul(f32x4.splat(1.6666665459e-1), r));
  const b = f32x4.add(f32x4.splat(4.1665795894e-2), f32x4.mul(f32x4.splat(8.3334519073e-3), r));
  const c = f32x4.add(f32x4.splat(1.3981999507e-3), f32x4.mul(f32x4.splat(1.9875691500e-4), r));
  const p = f32x4.add(a, f32x4.mul(f32x4.add(b, f32x4.mul(c, r2)), r2));
  const y = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1.0));
  // n + 127 in the exponent field: (bits(shifted) - bits(magic) + 127) << 23.
  const twoToN = i32x4.shl(i32x4.add(i32x4.sub(shifted, i32x4.splat(ROUNDING_MAGIC_BITS)), i32x4.splat(127)), 23);
  return f32x4.mul(y, twoToN);
}

/** The lanes of x that are live (x > EXP_FLOOR; NaN and -Infinity are not) and their weights e^x (0 elsewhere). */
// @ts-ignore: decorator
@inline function weights4(x: v128, live: v128): v128 {
  return v128.and(exp4(f32x4.pmax(x, f32x4.splat(EXP_FLOOR))), live);
}

/** Largest of row[0, n), NaN when any entry is NaN (f32x4.max propagates it). n: a multiple of 4. */
export function rowMax(row: usize, n: i32): f32 {
  let a = f32x4.splat(-Infinity);
  let b = a;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    a = f32x4.max(a, v128.load(row + (<usize>i << 2)));
    b = f32x4.max(b, v128.load(row + (<usize>i << 2), 16));
  }
  if (i < n) a = f32x4.max(a, v128.load(row + (<usize>i << 2)));
  a = f32x4.max(a, b);
  const m01 = max<f32>(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1));
  const m23 = max<f32>(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3));
  return max<f32>(m01, m23);
}

/** First index i < n with row[i] == value, or -1. n: a multiple of 4. */
export function firstIndexOf(row: usize, n: i32, value: f32): i32 {
  const target = f32x4.splat(value);
  for (let i = 0; i < n; i += 4) {
    const bits = i32x4.bitmask(f32x4.eq(v128.load(row + (<usize>i << 2)), target));
    if (bits != 0) return i + ctz<i32>(bits);
  }
  return -1;
}

/** First index i in [from, n) with row[i] > threshold, or n. n: a multiple of 4; from: any. */
export function firstAbove(row: usize, from: i32, n: i32, threshold: f32): i32 {
  let i = from;
  while (i < n && (i & 3) != 0) {
    if (load<f32>(row + (<usize>i << 2)) > threshold) return i;
    i++;
  }
  const t = f32x4.splat(threshold);
  for (; i < n; i += 4) {
    const bits = i32x4.bitmask(f32x4.gt(v128.load(row + (<usize>i << 2)), t));
    if (bits != 0) return i + ctz<i32>(bits);
  }
  return n;
}

let compactedMin: f32 = Infinity;

/** The smallest value kept by the last compactAtLeast (Infinity when it kept none). */
export function lastCompactedMin(): f32 {
  return compactedMin;
}

/**
 * Copies every i < n with row[i] >= floor into ids/values (in id order) and returns how many; pads values with
 * -Infinity to the next multiple of 4. n: a multiple of 4; ids and values hold n + 4 entries.
 */
export function compactAtLeast(row: usize, n: i32, floor: f32, ids: usize, values: usize): i32 {
  const f = f32x4.splat(floor);
  let low = f32x4.splat(Infinity);
  let lowScalar: f32 = Infinity;
  let count = 0;
  let lane = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  for (let i = 0; i < n; i += 4) {
    const v = v128.load(row + (<usize>i << 2));
    const bits = i32x4.bitmask(f32x4.ge(v, f));
    if (bits == 15) {
      v128.store(values + (<usize>count << 2), v);
      v128.store(ids + (<usize>count << 2), lane);
      low = f32x4.min(low, v);
      count += 4;
    } else if (bits != 0) {
      for (let j = 0; j < 4; j++) {
        if ((bits >> j) & 1) {
          const value = load<f32>(row + (<usize>(i + j) << 2));
          store<f32>(values + (<usize>count << 2), value);
          store<i32>(ids + (<usize>count << 2), i + j);
          lowScalar = min<f32>(lowScalar, value);
          count++;
        }
      }
    }
    lane = i32x4.add(lane, four);
  }
  const lowLanes = min<f32>(min<f32>(f32x4.extract_lane(low, 0), f32x4.extract_lane(low, 1)), min<f32>(f32x4.extract_lane(low, 2), f32x4.extract_lane(low, 3)));
  compactedMin = min<f32>(lowScalar, lowLanes);
  for (let j = count; j < ((count + 3) & ~3); j++) store<f32>(values + (<usize>j << 2), -Infinity);
  return count;
}

/**
 * Σ e^x over i < n with x = (row[i] - max) * scale > floor (at least EXP_FLOOR), in float64 (the weights e^x in
 * float32). A block of 4 with no entry above the floor costs a compare. n: a multiple of 4.
 */
export function expSum(row: usize, n: i32, rowMax: f32, scale: f32, skipBelow: f32): f64 {
  const m = f32x4.splat(rowMax);
  const s = f32x4.splat(scale);
  const floor = f32x4.splat(max<f32>(skipBelow, EXP_FLOOR));
  let total = f64x2.splat(0);
  for (let i = 0; i < n; i += 4) {
    const x = f32x4.mul(f32x4.sub(v128.load(row + (<usize>i << 2)), m), s);
    const live = f32x4.gt(x, floor);
    if (!v128.any_true(live)) continue;
    const w = weights4(x, live);
    total = f64x2.add(total, lanePairs(w));
  }
  return f64x2.extract_lane(total, 0) + f64x2.extract_lane(total, 1);
}

/**
 * weights[j] = e^x with x = (values[j] - max) * scale (float32; 0 when x <= EXP_FLOOR), for j < count, and returns
 * their sum in float64. When buckets is not 0 it also writes each entry's exponent bucket, round(-64 x)
 * (ZERO_BUCKET for a weight of 0), into buckets (uint16), and adds each weight to mass[bucket] (float64,
 * ZERO_BUCKET + 1 entries, cleared here): bucket order is rank order. count: any; values padded to a multiple of
 * 4 with -Infinity; outputs sized to that multiple.
 */
export function expWeights(values: usize, count: i32, max: f32, scale: f32, weights: usize, buckets: usize, mass: usize): f64 {
  const m = f32x4.splat(max);
  const s = f32x4.splat(scale);
  const floor = f32x4.splat(EXP_FLOOR);
  const zeroBucket = i32x4.splat(ZERO_BUCKET);
  const withBuckets = buckets != 0;
  if (withBuckets) memory.fill(mass, 0, <usize>(ZERO_BUCKET + 1) << 3);
  let total = f64x2.splat(0);
  for (let j = 0; j < count; j += 4) {
    const x = f32x4.mul(f32x4.sub(v128.load(values + (<usize>j << 2)), m), s);
    const live = f32x4.gt(x, floor);
    const w = weights4(x, live);
    v128.store(weights + (<usize>j << 2), w);
    const low = f64x2.promote_low_f32x4(w);
    const high = f64x2.promote_low_f32x4(v128.shuffle<f32>(w, w, 2, 3, 0, 1));
    total = f64x2.add(total, f64x2.add(low, high));
    if (withBuckets) {
      // round(-64 x) by the same trick as exp4's n (ties to even: still monotone, so still rank order).
      const scaled = f32x4.add(f32x4.mul(f32x4.pmax(x, floor), f32x4.splat(-STEPS_PER_UNIT)), f32x4.splat(ROUNDING_MAGIC));
      const k = v128.bitselect(i32x4.sub(scaled, i32x4.splat(ROUNDING_MAGIC_BITS)), zeroBucket, live);
      const k0 = i32x4.extract_lane(k, 0);
      const k1 = i32x4.extract_lane(k, 1);
      const k2 = i32x4.extract_lane(k, 2);
      const k3 = i32x4.extract_lane(k, 3);
      store<u64>(buckets + (<usize>j << 1), i64x2.extract_lane(i16x8.narrow_i32x4_u(k, k), 0));
      const a0 = mass + (<usize>k0 << 3);
      store<f64>(a0, load<f64>(a0) + f64x2.extract_lane(low, 0));
      const a1 = mass + (<usize>k1 << 3);
      store<f64>(a1, load<f64>(a1) + f64x2.extract_lane(low, 1));
      const a2 = mass + (<usize>k2 << 3);
      store<f64>(a2, load<f64>(a2) + f64x2.extract_lane(high, 0));
      const a3 = mass + (<usize>k3 << 3);
      store<f64>(a3, load<f64>(a3) + f64x2.extract_lane(high, 1));
    }
  }
  return f64x2.extract_lane(total, 0) + f64x2.extract_lane(total, 1);
}

/** The lanes of a block ranked at or above (boundaryValue, boundaryId): a larger value, or equal and a lower id. */
// @ts-ignore: decorator
@inline function rankedAtLeast4(v: v128, id: v128, boundaryValue: v128, boundaryId: v128): v128 {
  return v128.or(f32x4.gt(v, boundaryValue), v128.and(f32x4.eq(v, boundaryValue), i32x4.le_s(id, boundaryId)));
}

/** The 4 float32 lanes of w summed in pairs in float64: (w0 + w2, w1 + w3). */
// @ts-ignore: decorator
@inline function lanePairs(w: v128): v128 {
  return f64x2.add(f64x2.promote_low_f32x4(w), f64x2.promote_low_f32x4(v128.shuffle<f32>(w, w, 2, 3, 0, 1)));
}

/** Σ of the 4 float32 lanes of w, in float64, as (w0 + w2) + (w1 + w3). */
// @ts-ignore: decorator
@inline function laneSum(w: v128): f64 {
  const pairs = lanePairs(w);
  return f64x2.extract_lane(pairs, 0) + f64x2.extract_lane(pairs, 1);
}

/**
 * Σ weights[j] (float64) over the candidates j < count ranked at or above (boundaryValue, boundaryId). Arrays
 * padded as expWeights leaves them (padded lanes weigh 0).
 */
export function sumRanked(values: usize, ids: usize, weights: usize, count: i32, boundaryValue: f32, boundaryId: i32): f64 {
  const bv = f32x4.splat(boundaryValue);
  const bid = i32x4.splat(boundaryId);
  let total = f64x2.splat(0);
  for (let j = 0; j < count; j += 4) {
    const member = rankedAtLeast4(v128.load(values + (<usize>j << 2)), v128.load(ids + (<usize>j << 2)), bv, bid);
    const w = v128.and(v128.load(weights + (<usize>j << 2)), member);
    total = f64x2.add(total, lanePairs(w));
  }
  return f64x2.extract_lane(total, 0) + f64x2.extract_lane(total, 1);
}

/**
 * Inverse transform sampling over the candidates j < count ranked at or above (boundaryValue, boundaryId), in
 * list order: the first j at which their running float64 sum of weights exceeds target. When rounding keeps the
 * sum at or below target to the end, -2 - (the last member with a positive weight), or -1 when there is none.
 * The running sum advances a block of 4 at a time (laneSum) and one weight at a time inside the
 * block that crosses the target.
 */
export function pickCumulative(values: usize, ids: usize, weights: usize, count: i32, boundaryValue: f32, boundaryId: i32, target: f64): i32 {
  const bv = f32x4.splat(boundaryValue);
  const bid = i32x4.splat(boundaryId);
  let cumulative: f64 = 0;
  for (let j = 0; j < count; j += 4) {
    const member = rankedAtLeast4(v128.load(values + (<usize>j << 2)), v128.load(ids + (<usize>j << 2)), bv, bid);
    const w = v128.and(v128.load(weights + (<usize>j << 2)), member);
    const block = laneSum(w);
    if (cumulative + block <= target) {
      cumulative += block;
      continue;
    }
    for (let lane = 0; lane < 4; lane++) {
      const weight = <f64>load<f32>(weights + (<usize>(j + lane) << 2));
      if (!(weight > 0) || (i32x4.bitmask(member) >> lane & 1) == 0) continue;
      cumulative += weight;
      if (target < cumulative) return j + lane;
    }
  }
  for (let j = count - 1; j >= 0; j--) {
    const value = load<f32>(values + (<usize>j << 2));
    const id = load<i32>(ids + (<usize>j << 2));
    const member = value > boundaryValue || (value == boundaryValue && id <= boundaryId);
    if (member && load<f32>(weights + (<usize>j << 2)) > 0) return -2 - j;
  }
  return -1;
}

/** First j in [from, count) with buckets[j] == bucket, or count. buckets: uint16, padded to a multiple of 8 entries. */
export function nextInBucket(buckets: usize, from: i32, count: i32, bucket: i32): i32 {
  let j = from;
  while (j < count && (j & 7) != 0) {
    if (<i32>load<u16>(buckets + (<usize>j << 1)) == bucket) return j;
    j++;
  }
  const b = i16x8.splat(<i16>bucket);
  for (; j < count; j += 8) {
    const bits = i16x8.bitmask(i16x8.eq(v128.load(buckets + (<usize>j << 1)), b));
    if (bits != 0) return min<i32>(count, j + ctz<i32>(bits));
  }
  return count;
}

/**
 * out[i] = float32(out[i] + weight * term[i]) for i < n, the sum and product in float64 (as a JavaScript
 * `out[i] += weight * term[i]` over Float32Arrays computes it): one rounding per term. n: any.
 */
export function fuseInto(out: usize, term: usize, n: i32, weight: f64): void {
  const w = f64x2.splat(weight);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = v128.load(out + (<usize>i << 2));
    const t = v128.load(term + (<usize>i << 2));
    const low = f64x2.add(f64x2.promote_low_f32x4(o), f64x2.mul(w, f64x2.promote_low_f32x4(t)));
    const high = f64x2.add(
      f64x2.promote_low_f32x4(v128.shuffle<f32>(o, o, 2, 3, 0, 1)),
      f64x2.mul(w, f64x2.promote_low_f32x4(v128.shuffle<f32>(t, t, 2, 3, 0, 1))),
    );
    const a = f32x4.demote_f64x2_zero(low);
    const b = f32x4.demote_f64x2_zero(high);
    v128.store(out + (<usize>i << 2), v128.shuffle<f32>(a, b, 0, 1, 4, 5));
  }
  for (; i < n; i++) {
    const at = out + (<usize>i << 2);
    store<f32>(at, <f32>(<f64>load<f32>(at) + weight * <f64>load<f32>(term + (<usize>i << 2))));
  }
}
