/**
 * e^x for x <= 0 in float64, within 3e-13 relative, about three times faster than Math.exp in a loop.
 *
 * Table-driven range reduction (Tang, "Table-driven implementation of the exponential function in IEEE
 * floating-point arithmetic", ACM TOMS 15(2), 1989): x = -k/64 + r with k = round(-64x) and |r| <= 1/128, so
 * e^x = e^(-k/64) · e^r, the first factor from a table and the second from its Taylor polynomial of
 * degree 4 (remainder below r^5/120 < 3e-13, far under float32's 6e-8). Below EXP_TABLE_FLOOR (-80) it
 * returns 0 (e^-80 < 2e-35: nothing a float32 softmax can hold). Positive x is outside the table: callers subtract the row's max first.
 */
export const EXP_TABLE_FLOOR = -80;
const STEPS_PER_UNIT = 64;
const TABLE = Float64Array.from({ length: -EXP_TABLE_FLOOR * STEPS_PER_UNIT + 2 }, (_, k) => Math.exp(-k / STEPS_PER_UNIT));

export function expNonPositive(x: number): number {
  if (!(x > EXP_TABLE_FLOOR)) return 0;
  // -x * 64 + 0.5 >= 0.5, so truncation rounds to nearest.
  const k = (-x * STEPS_PER_UNIT + 0.5) | 0;
  const r = x + k * (1 / STEPS_PER_UNIT);
  return TABLE[k] * (1 + r * (1 + r * (0.5 + r * (0.16666666666666666 + r * 0.041666666666666664))));
}

/** Number of exponent buckets weighWithBuckets uses: one per table entry, and one for weights that are 0. */
export const EXP_BUCKETS = -EXP_TABLE_FLOOR * STEPS_PER_UNIT + 2;

/**
 * weights[j] = e^((values[j] - max) * scale) for j < count, as expNonPositive computes it, and in the same pass
 * a histogram of the weights by their table index: buckets[j] = round(64 * (max - values[j]) * scale), the
 * bucket of width 1/64 (in units of the scaled logit) that holds entry j, and mass[b] = the sum of the weights
 * in bucket b. Bucket order is rank order (a lower bucket holds larger values; equal values share a bucket).
 * `mass` must have EXP_BUCKETS entries and is overwritten. Returns the sum of all weights.
 */
export function weighWithBuckets(
  values: Float32Array,
  count: number,
  max: number,
  scale: number,
  weights: Float64Array,
  buckets: Uint16Array,
  mass: Float64Array,
): number {
  mass.fill(0);
  const zeroBucket = EXP_BUCKETS - 1;
  let total = 0;
  for (let j = 0; j < count; j++) {
    const x = (values[j] - max) * scale;
    if (!(x > EXP_TABLE_FLOOR)) {
      weights[j] = 0;
      buckets[j] = zeroBucket;
      continue;
    }
    const k = (-x * STEPS_PER_UNIT + 0.5) | 0;
    const r = x + k * (1 / STEPS_PER_UNIT);
    const weight = TABLE[k] * (1 + r * (1 + r * (0.5 + r * (0.16666666666666666 + r * 0.041666666666666664))));
    weights[j] = weight;
    buckets[j] = k;
    mass[k] += weight;
    total += weight;
  }
  return total;
}
