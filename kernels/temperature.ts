/**
 * Divides logits by `temperature` in place (division, not multiplication by 1/t, to match
 * vLLM/HF rounding). Temperature 0 means greedy and is the sampler's job, so it is rejected
 * here; very small temperatures may overflow float32 to ±Infinity, which the sampler treats
 * as a greedy pick among the +Infinity entries.
 */
export function applyTemperature(logits: Float32Array, temperature: number): void {
  if (temperature === 1) return;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new RangeError(`temperature must be finite and > 0, got ${temperature}`);
  }
  for (let i = 0; i < logits.length; i++) logits[i] /= temperature;
}
