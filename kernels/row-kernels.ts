import { ROW_KERNELS_WASM_BASE64 } from './row-kernels-wasm.js';

/**
 * Number of exponent buckets RowKernels.weigh fills: bucket k = round(-64 x) for a scaled logit x in (-80, 0]
 * (k <= 5120), and one more (EXP_BUCKETS - 1) for the entries whose weight is 0.
 */
export const EXP_BUCKETS = 5122;
/** Scaled logits at or below this have weight 0 (e^-80 < 2e-35: nothing a float32 softmax can hold). */
export const EXP_FLOOR = -80;

/** The passes wasm/row-kernels.ts exports; pointers are byte offsets into `memory`, lengths multiples of 4. */
interface RowKernelExports {
  memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  rowMax(row: number, n: number): number;
  firstIndexOf(row: number, n: number, value: number): number;
  firstAbove(row: number, from: number, n: number, threshold: number): number;
  compactAtLeast(row: number, n: number, floor: number, ids: number, values: number): number;
  lastCompactedMin(): number;
  expSum(row: number, n: number, max: number, scale: number, skipBelow: number): number;
  expWeights(values: number, count: number, max: number, scale: number, weights: number, buckets: number, mass: number): number;
  sumRanked(values: number, ids: number, weights: number, count: number, boundaryValue: number, boundaryId: number): number;
  pickCumulative(values: number, ids: number, weights: number, count: number, boundaryValue: number, boundaryId: number, target: number): number;
  nextInBucket(buckets: number, from: number, count: number, bucket: number): number;
  fuseInto(out: number, term: number, n: number, weight: number): void;
}

/** The WebAssembly JS API (a Node global; this project's lib settings leave its types out). */
const wasmApi = (globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object, imports: object) => { exports: unknown } };
}).WebAssembly;

let compiled: object | null = null;

const PAGE_BYTES = 65_536;
const FLOAT32_MAX = 3.4028234663852886e38;
const paddedLength = (n: number) => (n + 3) & ~3;

/**
 * WebAssembly SIMD passes over one logits row (wasm/row-kernels.ts, 4 float32 lanes per instruction): the max
 * with its NaN check, the argmax, the compaction of the ids within a cut of the max, and the softmax weights
 * e^((x - max) / T) with their sum and exponent-bucket histogram. One plain JavaScript pass of Math.exp over
 * 151,936 logits costs about 2.5 ms on a 2-core x86 server; these passes cost a tenth of that (bench/sampling.ts).
 *
 * Each instance owns its memory (its own WebAssembly instance; the compiled module is shared per thread) and these
 * arrays in it, valid until the next ensure() that grows it:
 *   row      float32[capacity]  the row last loaded (loadRow), padded with -Infinity to a multiple of 4
 *   ids      int32[capacity]    candidate ids (compact)
 *   values   float32[capacity]  candidate logits (compact), in id order
 *   weights  float32[capacity]  candidate weights (weigh)
 *   buckets  uint16[capacity]   candidate exponent buckets (weigh with buckets)
 *   mass     float64[EXP_BUCKETS] summed weight per bucket (weigh with buckets)
 *
 * Weights are float32 values of e^x (relative error within 2 float32 ulps: Cephes' expf polynomial), and every
 * sum of them is taken in float64: a distribution built from them is the exact softmax to float32 rounding.
 */
export class RowKernels {
  private readonly wasm: RowKernelExports;
  private capacity = 0;
  private rowPtr = 0;
  private idsPtr = 0;
  private valuesPtr = 0;
  private weightsPtr = 0;
  private bucketsPtr = 0;
  private massPtr = 0;
  row = new Float32Array(0);
  ids = new Int32Array(0);
  values = new Float32Array(0);
  weights = new Float32Array(0);
  buckets = new Uint16Array(0);
  mass = new Float64Array(0);
  /** Length of the row last loaded. */
  length = 0;

  constructor() {
    compiled ??= new wasmApi.Module(Buffer.from(ROW_KERNELS_WASM_BASE64, 'base64'));
    this.wasm = new wasmApi.Instance(compiled, {}).exports as RowKernelExports;
    this.ensure(64);
  }

  /** Makes room for rows and candidate lists of `entries` ids (the arrays above are new views after a growth). */
  ensure(entries: number): void {
    const capacity = paddedLength(entries) + 4;
    if (capacity <= this.capacity && this.row.buffer === this.wasm.memory.buffer) return;
    const needed = Math.max(capacity, this.capacity);
    const bytes = needed * 18 + EXP_BUCKETS * 8;
    const memory = this.wasm.memory;
    const pages = Math.ceil(bytes / PAGE_BYTES) - memory.buffer.byteLength / PAGE_BYTES;
    if (pages > 0) memory.grow(pages);
    this.capacity = needed;
    // Offsets stay 16-byte aligned: capacity is a multiple of 4.
    this.rowPtr = 0;
    this.idsPtr = needed * 4;
    this.valuesPtr = needed * 8;
    this.weightsPtr = needed * 12;
    this.bucketsPtr = needed * 16;
    this.massPtr = needed * 18;
    const buffer = memory.buffer;
    this.row = new Float32Array(buffer, this.rowPtr, needed);
    this.ids = new Int32Array(buffer, this.idsPtr, needed);
    this.values = new Float32Array(buffer, this.valuesPtr, needed);
    this.weights = new Float32Array(buffer, this.weightsPtr, needed);
    this.buckets = new Uint16Array(buffer, this.bucketsPtr, needed);
    this.mass = new Float64Array(buffer, this.massPtr, EXP_BUCKETS);
  }

  /** Copies `row` in (one memcpy) for the row passes below. */
  loadRow(row: Float32Array): void {
    this.ensure(row.length);
    this.row.set(row);
    this.row.fill(-Infinity, row.length, paddedLength(row.length));
    this.length = row.length;
  }

  /** The loaded row's max; NaN when it holds a NaN anywhere, -Infinity when it is empty or all -Infinity. */
  rowMax(): number {
    return this.wasm.rowMax(this.rowPtr, paddedLength(this.length));
  }

  /** First index of the loaded row holding `value` (-1 if none). */
  firstIndexOf(value: number): number {
    return this.wasm.firstIndexOf(this.rowPtr, paddedLength(this.length), value);
  }

  /** First index >= from of the loaded row whose value is > threshold (NaN never is), or the row's length. */
  firstAbove(from: number, threshold: number): number {
    return Math.min(this.length, this.wasm.firstAbove(this.rowPtr, from, paddedLength(this.length), threshold));
  }

  /**
   * Copies the ids of the loaded row with value >= floor, in id order, into ids/values; returns their count and
   * smallest value. -Infinity entries are never kept (a floor of -Infinity keeps every other entry).
   */
  compact(floor: number): { count: number; min: number } {
    const finiteFloor = Math.max(floor, -FLOAT32_MAX);
    const count = this.wasm.compactAtLeast(this.rowPtr, paddedLength(this.length), finiteFloor, this.idsPtr, this.valuesPtr);
    return { count, min: this.wasm.lastCompactedMin() };
  }

  /**
   * Σ e^x over the loaded row, x = (row[i] - max) * scale (float64; terms with x at or below max(skipBelow,
   * EXP_FLOOR) are left out, and a block of 4 of them costs one compare).
   */
  expSum(max: number, scale: number, skipBelow = EXP_FLOOR): number {
    return this.wasm.expSum(this.rowPtr, paddedLength(this.length), max, scale, skipBelow);
  }

  /**
   * weights[j] = e^((values[j] - max) * scale) for j < count (0 at or below EXP_FLOOR); returns their float64 sum.
   * withBuckets: also buckets[j] = round(-64 (values[j] - max) * scale) (EXP_BUCKETS - 1 for weight 0), which is
   * rank order (a larger value never has a larger bucket; equal values share one), and mass[b] = the summed weight
   * of bucket b. scale > 0; max >= every value.
   */
  weigh(count: number, max: number, scale: number, withBuckets: boolean): number {
    this.values.fill(-Infinity, count, paddedLength(count));
    return this.wasm.expWeights(this.valuesPtr, count, max, scale, this.weightsPtr, withBuckets ? this.bucketsPtr : 0, this.massPtr);
  }

  /** The passes read whole blocks of 4: candidates past `count` (left by a cut that shortened the list) weigh 0. */
  private padCandidates(count: number): void {
    this.values.fill(-Infinity, count, paddedLength(count));
    this.weights.fill(0, count, paddedLength(count));
  }

  /** Σ weights[j] (float64) over the first `count` candidates ranked at or above (boundaryValue, boundaryId). */
  sumRanked(count: number, boundaryValue: number, boundaryId: number): number {
    this.padCandidates(count);
    return this.wasm.sumRanked(this.valuesPtr, this.idsPtr, this.weightsPtr, count, boundaryValue, boundaryId);
  }

  /**
   * Inverse transform sampling over the first `count` candidates ranked at or above (boundaryValue, boundaryId),
   * in list order: the index j of the first at which their running float64 sum of weights exceeds `target`; when
   * float rounding keeps the sum at or below it, the last such candidate with a positive weight (-1 if none).
   */
  pickCumulative(count: number, boundaryValue: number, boundaryId: number, target: number): number {
    this.padCandidates(count);
    const j = this.wasm.pickCumulative(this.valuesPtr, this.idsPtr, this.weightsPtr, count, boundaryValue, boundaryId, target);
    return j >= -1 ? j : -2 - j;
  }

  /** First j in [from, count) whose bucket (weigh with buckets) is `bucket`, or count. */
  nextInBucket(from: number, count: number, bucket: number): number {
    return this.wasm.nextInBucket(this.bucketsPtr, from, count, bucket);
  }

  /**
   * The loaded row plus weight x term, in place (RowKernels.row): row[i] = float32(row[i] + weight * term[i]) for
   * i < min(length, term.length), in float64 as `row[i] += weight * term[i]` in JavaScript, so bit for bit the same.
   * The term is copied into the candidate buffers first (they are scratch until the next compact).
   */
  addWeighted(term: Float32Array, weight: number): void {
    const n = Math.min(this.length, term.length);
    this.values.set(term.subarray(0, n));
    this.wasm.fuseInto(this.rowPtr, this.valuesPtr, n, weight);
  }
}
