import ort from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import type { DecoderSignature } from './decoder-signature.js';
import { halfBits } from './float16.js';

/**
 * The KV cache of a batch of sequences, as ONNX Runtime takes it: per layer one key and one value tensor
 * [rows, kvHeads, width, headDim]. Rows are right-aligned (the signature's kvAlignment): row r's `lengths[r]`
 * real positions are the last columns, the columns before them are padding (masked out); or left-aligned
 * (GroupQueryAttention exports): the first columns, padding after. A decode step appends one column to every
 * row, so the alignment holds and the present tensors of a run are the next run's past without a copy; only a
 * change of the batch's rows lays the cache out again (`gatherKv` on the host, KvGatherGraph on a device).
 */
export interface KvLayout {
  seqIds: number[];
  lengths: number[];
  width: number;
  keys: Tensor[];
  values: Tensor[];
  /** Sequences whose cache lives in this layout; its tensors are disposed when this reaches zero. */
  refs: number;
}

/** A row of a new layout: which row of which layout it comes from (null: a sequence with no cache yet). */
export interface KvRowSource {
  layout: KvLayout | null;
  row: number;
}

export interface KvTensors {
  keys: Tensor[];
  values: Tensor[];
}

type KvArray = Float32Array | Uint16Array;

/** Counts of the KV tensors a runner owns; `device*` counts those whose data is not on the host. */
export interface TensorCounts {
  created: number;
  disposed: number;
  live: number;
  deviceCreated: number;
  deviceDisposed: number;
  deviceLive: number;
}

/**
 * Every KV tensor a runner owns passes through here: adopted once when it comes into being (a run's present
 * output, a gathered or empty past, an intermediate of the device gather) and disposed once. Disposing a
 * tensor twice, or one never adopted, is a bug that would free device memory still in use: it throws.
 */
export class TensorLedger {
  private readonly live = new Set<Tensor>();
  private readonly counts = { created: 0, disposed: 0, deviceCreated: 0, deviceDisposed: 0 };

  adopt<T extends Tensor>(tensor: T): T {
    if (this.live.has(tensor)) throw new UnirError('internal_error', 'a KV tensor was adopted twice');
    this.live.add(tensor);
    this.counts.created++;
    if (tensor.location !== 'cpu') this.counts.deviceCreated++;
    return tensor;
  }

  dispose(tensor: Tensor): void {
    if (!this.live.delete(tensor)) {
      throw new UnirError('internal_error', 'a KV tensor was disposed twice, or was not owned by this runner');
    }
    const onDevice = tensor.location !== 'cpu';
    tensor.dispose();
    this.counts.disposed++;
    if (onDevice) this.counts.deviceDisposed++;
  }

  snapshot(): TensorCounts {
    let deviceLive = 0;
    for (const t of this.live) if (t.location !== 'cpu') deviceLive++;
    return { ...this.counts, live: this.live.size, deviceLive };
  }
}

export function emptyKv(sig: DecoderSignature, rows: number, ledger: TensorLedger): KvTensors {
  const make = () => ledger.adopt(new ort.Tensor(sig.kvDtype, newKvArray(sig, 0), [rows, sig.numKvHeads, 0, sig.headDim]));
  return { keys: sig.pastKeyNames.map(make), values: sig.pastValueNames.map(make) };
}

/** True when every source tensor is host memory, so the typed-array copy can read it. */
export function sourcesOnHost(sources: readonly KvRowSource[]): boolean {
  return sources.every((s) => !s.layout || [...s.layout.keys, ...s.layout.values].every((t) => t.location === 'cpu'));
}

/** Copies rows of one or more layouts into fresh host tensors of `width` columns, each row aligned as the signature says. */
export function gatherKv(sig: DecoderSignature, sources: readonly KvRowSource[], width: number, ledger: TensorLedger): KvTensors {
  const gatherOne = (pick: (l: KvLayout) => Tensor[], layer: number): Tensor => {
    const { numKvHeads: heads, headDim: dim } = sig;
    const out = newKvArray(sig, sources.length * heads * width * dim);
    sources.forEach((src, r) => {
      if (!src.layout) return;
      const tensor = pick(src.layout)[layer];
      if (tensor.location !== 'cpu') {
        throw new UnirError('internal_error', `the host copy cannot read a KV cache held on ${tensor.location}: use the device gather`);
      }
      const data = sig.kvDtype === 'float16' ? halfBits(tensor.data as ArrayBufferView) : (tensor.data as Float32Array);
      const srcWidth = src.layout.width;
      const len = src.layout.lengths[src.row];
      const right = sig.kvAlignment === 'right';
      for (let h = 0; h < heads; h++) {
        const from = ((src.row * heads + h) * srcWidth + (right ? srcWidth - len : 0)) * dim;
        const to = ((r * heads + h) * width + (right ? width - len : 0)) * dim;
        out.set(data.subarray(from, from + len * dim), to);
      }
    });
    return ledger.adopt(new ort.Tensor(sig.kvDtype, out, [sources.length, heads, width, dim]));
  };
  return {
    keys: sig.pastKeyNames.map((_, i) => gatherOne((l) => l.keys, i)),
    values: sig.pastValueNames.map((_, i) => gatherOne((l) => l.values, i)),
  };
}

export function disposeLayout(layout: KvLayout, ledger: TensorLedger): void {
  for (const t of [...layout.keys, ...layout.values]) ledger.dispose(t);
  layout.keys = [];
  layout.values = [];
}

function newKvArray(sig: DecoderSignature, size: number): KvArray {
  // ORT takes float16 as raw IEEE half bits in a Uint16Array.
  return sig.kvDtype === 'float16' ? new Uint16Array(size) : new Float32Array(size);
}
