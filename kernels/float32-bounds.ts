const bits = new Float32Array(1);
const bitsAsInt = new Int32Array(bits.buffer);

/** The float32 next to the finite float32 x, one step up (direction 1) or down (-1); x = 0 steps to ±2^-149. */
export function float32Step(x: number, direction: 1 | -1): number {
  if (x === 0) return direction * 1.401298464324817e-45;
  bits[0] = x;
  // Away from zero is one more in the bits, toward zero one less.
  bitsAsInt[0] += (x > 0) === (direction > 0) ? 1 : -1;
  return bits[0];
}

/** The smallest float32 >= x (x finite or -Infinity): a float32 v is >= it exactly when v >= x. */
export function float32AtLeast(x: number): number {
  const rounded = Math.fround(x);
  return rounded >= x ? rounded : float32Step(rounded, 1);
}

/**
 * The smallest float32 v for which `holds(v)`, for a predicate that is monotone (false below some v, true from
 * it on) and holds near `guess` give or take a few float32 steps: a threshold computed in float64 turned into the
 * float32 a SIMD compare can use with exactly the same outcome for every float32 value.
 */
export function smallestFloat32Where(holds: (v: number) => boolean, guess: number): number {
  let v = float32AtLeast(guess);
  while (!holds(v)) v = float32Step(v, 1);
  for (let below = float32Step(v, -1); holds(below); below = float32Step(v, -1)) v = below;
  return v;
}
