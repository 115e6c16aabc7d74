import ort from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import type { DecoderSignature } from './decoder-signature.js';

/**
 * The KV cache of a batch of sequences, as ONNX Runtime takes it: per layer one key and one value tensor
 * [rows, kvHeads, width, headDim]. Rows are right-aligned: row r's `lengths[r]` real positions are the last
 * columns, the columns before them are padding (masked out). A decode step appends one column to every row,
 * so the alignment holds and the present tensors of a run are the next run's past without a copy; only a
 * change of the batch's rows lays the cache out again (`gatherKv`).
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

type KvArray = Float32Array | Uint16Array;

export function emptyKv(sig: DecoderSignature, rows: number): { keys: Tensor[]; values: Tensor[] } {
  const make = () => new ort.Tensor(sig.kvDtype, newKvArray(sig, 0), [rows, sig.numKvHeads, 0, sig.headDim]);
  return { keys: sig.pastKeyNames.map(make), values: sig.pastValueNames.map(make) };
}

/** Copies rows of one or more layouts into fresh tensors of `width` columns, each row right-aligned. */
export function gatherKv(sig: DecoderSignature, sources: readonly KvRowSource[], width: number): { keys: Tensor[]; values: Tensor[] } {
  const gatherOne = (pick: (l: KvLayout) => Tensor[], layer: number): Tensor => {
    const { numKvHeads: heads, headDim: dim } = sig;
    const out = newKvArray(sig, sources.length * heads * width * dim);
    sources.forEach((src, r) => {
      if (!src.layout) return;
      const tensor = pick(src.layout)[layer];
      if (tensor.location !== 'cpu') {
        throw new UnirError('internal_error', `re-laying out a KV cache held on ${tensor.location} is not supported`);
      }
      const data = tensor.data as KvArray;
      const srcWidth = src.layout.width;
      const len = src.layout.lengths[src.row];
      for (let h = 0; h < heads; h++) {
        const from = ((src.row * heads + h) * srcWidth + (srcWidth - len)) * dim;
        const to = ((r * heads + h) * width + (width - len)) * dim;
        out.set(data.subarray(from, from + len * dim), to);
      }
    });
    return new ort.Tensor(sig.kvDtype, out, [sources.length, heads, width, dim]);
  };
  return {
    keys: sig.pastKeyNames.map((_, i) => gatherOne((l) => l.keys, i)),
    values: sig.pastValueNames.map((_, i) => gatherOne((l) => l.values, i)),
  };
}

export function disposeLayout(layout: KvLayout): void {
  for (const t of [...layout.keys, ...layout.values]) t.dispose();
  layout.keys = [];
  layout.values = [];
}

function newKvArray(sig: DecoderSignature, size: number): KvArray {
  // ORT takes float16 as raw IEEE half bits in a Uint16Array.
  return sig.kvDtype === 'float16' ? new Uint16Array(size) : new Float32Array(size);
}
