/**
 * Index of the largest entry; the first one wins on ties.
 *
 * NaN entries never win. -Infinity is an ordinary value, so a fully suppressed row
 * (all -Infinity) returns the first non-NaN index; +Infinity beats every finite value.
 * A row with no non-NaN entry (empty, or all NaN) means a broken model or module and throws.
 */
export function argmax(row: Float32Array): number {
  let bestId = -1;
  let best = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const value = row[i];
    if (value > best || (bestId < 0 && value === -Infinity)) {
      best = value;
      bestId = i;
    }
  }
  if (bestId < 0) throw new RangeError('argmax: row has no non-NaN entry');
  return bestId;
}
