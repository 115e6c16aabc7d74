import type { Tensor } from 'onnxruntime-node';

/**
 * The raw IEEE 754 half-precision bits of float16 tensor data. onnxruntime-common gives float16 data as a
 * Uint16Array of bits where JavaScript has no Float16Array (Node 20, 22), and as a Float16Array where it has one
 * (Node 24): copying or converting the latter as integers would destroy the values, so every reader goes through
 * this view of the same bytes.
 */
export function halfBits(data: ArrayBufferView): Uint16Array {
  return data instanceof Uint16Array ? data : new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
}

/**
 * A float16 CPU tensor as onnxruntime-node 1.30 can take it as an input. Where JavaScript has Float16Array (Node 24),
 * onnxruntime-common stores every float16 tensor's data as one, and the binding reads a Float16Array's byte length
 * as 0 ("not enough space: expected N, got 0"; microsoft/onnxruntime PR #32323): so a KV cache could not be fed
 * back. The tensor gets a Uint16Array view of the same bytes instead, which the binding accepts. Drop this when the
 * binding carries the fix.
 */
export function feedableHalf<T extends Tensor>(tensor: T): T {
  if (tensor.type === 'float16' && tensor.location === 'cpu') {
    const data = tensor.data as ArrayBufferView;
    if (!(data instanceof Uint16Array)) (tensor as unknown as { cpuData: ArrayBufferView }).cpuData = halfBits(data);
  }
  return tensor;
}

/** IEEE 754 half-precision bits to float32. */
export function halfToFloat(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}
