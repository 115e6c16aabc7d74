import ort from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import type { DecoderSignature } from './decoder-signature.js';
import { feedableHalf, halfBits, halfToFloat } from './float16.js';
import { KvGatherGraph, type GraphPlacement } from './kv-gather-graph.js';
import { checkRunOutputs } from './run-output-check.js';
import {
  disposeLayout,
  emptyKv,
  gatherKv,
  sourcesOnHost,
  TensorLedger,
  type KvLayout,
  type KvRowSource,
  type KvTensors,
  type TensorCounts,
} from './kv-layout.js';

/** One row of a run: a sequence and the tokens it appends (the whole prompt or a chunk of it, or one token). */
export interface RunRow {
  seqId: number;
  tokens: Int32Array;
}

/** The last position's logits of each row, row-major: rows × vocab. */
export interface RunLogits {
  data: Float32Array;
  rows: number;
  vocab: number;
  /**
   * When the session keeps its logits on the device (device-side fusion): the raw output [rows, positions, vocab],
   * still there, and `data` is empty. Whoever fuses it disposes it.
   */
  device?: Tensor;
}

/** Where the time of a run went, for the step breakdown of benchmarks. */
export interface RunTiming {
  /** Building the feeds, including any re-layout. */
  layoutMs: number;
  /** Re-laying out the cache because the rows changed (0 when the rows kept their layout). */
  relayoutMs: number;
  ortMs: number;
}

/**
 * How a batch change lays the cache out again: 'auto' copies host tensors with typed arrays and runs the
 * gather graph (models/graphs/kv_gather_*.onnx) for tensors held on a device; 'graph' runs the graph for
 * host tensors too (tests use it to check the device path on the CPU); 'host' never runs the graph.
 */
export type KvGatherMode = 'auto' | 'graph' | 'host';
const KV_GATHER_MODES: readonly KvGatherMode[] = ['auto', 'graph', 'host'];

export interface DecoderRunnerOptions {
  /** Default: the environment variable UNIR_KV_GATHER, else 'auto'. */
  kvGather?: KvGatherMode;
}

/** The runner's KV tensors (see TensorLedger), its live layouts and how its re-layouts were done. */
export interface RunnerTensorStats extends TensorCounts {
  liveLayouts: number;
  hostGathers: number;
  graphGathers: number;
}

/**
 * Runs a decoder export over batches of sequences and owns their KV caches. A sequence is known by its id
 * from its first run until `release`; each run continues every row from that row's cache.
 *
 * Rows of one run must not leave holes in the layout: rows that already have a cache append the same number of
 * tokens; rows without one may be shorter (padded on the side away from the cache: left when the cache is
 * right-aligned, right when it is left-aligned as GroupQueryAttention keeps it).
 */
export class DecoderRunner {
  private readonly seqs = new Map<number, { layout: KvLayout; row: number }>();
  private readonly ledger = new TensorLedger();
  private readonly layouts = new Set<KvLayout>();
  private readonly graphs = new Map<GraphPlacement, Promise<KvGatherGraph>>();
  private gathers = { host: 0, graph: 0 };
  readonly kvGather: KvGatherMode;
  lastTiming: RunTiming = { layoutMs: 0, relayoutMs: 0, ortMs: 0 };

  constructor(
    readonly session: InferenceSession,
    readonly signature: DecoderSignature,
    options: DecoderRunnerOptions = {},
  ) {
    const mode = options.kvGather ?? process.env.UNIR_KV_GATHER ?? 'auto';
    if (!KV_GATHER_MODES.includes(mode as KvGatherMode)) {
      throw new UnirError('invalid_request', `UNIR_KV_GATHER must be one of ${KV_GATHER_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    }
    this.kvGather = mode as KvGatherMode;
  }

  /** KV tensors created and disposed so far (all and on a device), live ones, live layouts, re-layouts by kind. */
  get tensorStats(): RunnerTensorStats {
    return { ...this.ledger.snapshot(), liveLayouts: this.layouts.size, hostGathers: this.gathers.host, graphGathers: this.gathers.graph };
  }

  get sequenceCount(): number {
    return this.seqs.size;
  }

  cachedLength(seqId: number): number {
    const s = this.seqs.get(seqId);
    return s ? s.layout.lengths[s.row] : 0;
  }

  async run(rows: readonly RunRow[]): Promise<RunLogits> {
    const sig = this.signature;
    const t0 = performance.now();
    const states = rows.map((r) => this.seqs.get(r.seqId) ?? null);
    const pastLengths = states.map((s) => (s ? s.layout.lengths[s.row] : 0));
    const width = Math.max(...rows.map((r) => r.tokens.length));
    rows.forEach((r, i) => {
      if (r.tokens.length === 0) throw new UnirError('internal_error', `run for sequence ${r.seqId} has no tokens`);
      if (pastLengths[i] > 0 && r.tokens.length !== width) {
        throw new UnirError('internal_error', 'rows with a cache must append the same number of tokens');
      }
    });

    const past = await this.pastFor(states, pastLengths);
    const relayoutMs = past.owned && past.width > 0 ? performance.now() - t0 : 0;
    const pastWidth = past.width;
    const total = pastWidth + width;
    const left = sig.kvAlignment === 'left';
    const ids = new BigInt64Array(rows.length * width);
    const mask = new BigInt64Array(rows.length * total);
    const positions = new BigInt64Array(rows.length * width);
    rows.forEach((r, i) => {
      // Right-aligned caches take left-padded tokens; left-aligned ones (GroupQueryAttention) right-padded tokens.
      const pad = left ? 0 : width - r.tokens.length;
      for (let j = 0; j < r.tokens.length; j++) {
        const k = i * width + pad + j;
        ids[k] = BigInt(r.tokens[j]);
        positions[k] = BigInt(pastLengths[i] + j);
      }
      const rowMask = mask.subarray(i * total, (i + 1) * total);
      if (left) {
        // GroupQueryAttention reads seqlens_k = sum(mask) - 1: the row's past, then its new tokens.
        rowMask.fill(1n, 0, pastLengths[i]);
        rowMask.fill(1n, pastWidth, pastWidth + r.tokens.length);
      } else {
        rowMask.fill(1n, pastWidth - pastLengths[i], pastWidth);
        rowMask.fill(1n, total - r.tokens.length, total);
      }
    });
    const feeds: Record<string, Tensor> = {
      input_ids:
        sig.inputIdsType === 'int64'
          ? new ort.Tensor('int64', ids, [rows.length, width])
          : new ort.Tensor('int32', Int32Array.from(ids, Number), [rows.length, width]),
      attention_mask: new ort.Tensor('int64', mask, [rows.length, total]),
    };
    if (sig.hasPositionIds) feeds.position_ids = new ort.Tensor('int64', positions, [rows.length, width]);
    // Right-padded rows of different lengths end at different positions: keep every position's logits then.
    const ragged = left && rows.some((r) => r.tokens.length !== width);
    if (sig.logitsToKeepInput) feeds[sig.logitsToKeepInput] = new ort.Tensor('int64', new BigInt64Array([ragged ? BigInt(width) : 1n]), []);
    sig.pastKeyNames.forEach((n, i) => (feeds[n] = feedableHalf(past.keys[i])));
    sig.pastValueNames.forEach((n, i) => (feeds[n] = feedableHalf(past.values[i])));

    const t1 = performance.now();
    let out: InferenceSession.ReturnType;
    try {
      out = await this.session.run(feeds);
    } catch (err) {
      throw new UnirError('model_failed', 'ONNX Runtime run failed', null, { detail: (err as Error).message.split('\n')[0] });
    } finally {
      if (past.owned) for (const t of [...past.keys, ...past.values]) this.ledger.dispose(t);
    }
    const t2 = performance.now();
    checkRunOutputs(out, sig, rows.length, total);

    const keys = sig.presentKeyNames.map((n) => out[n]);
    const layout: KvLayout = {
      seqIds: rows.map((r) => r.seqId),
      lengths: rows.map((r, i) => pastLengths[i] + r.tokens.length),
      // The present's own width: pastWidth + width for masked attention; GroupQueryAttention's may differ.
      width: keys[0].dims[2],
      keys: keys.map((t) => this.ledger.adopt(t)),
      values: sig.presentValueNames.map((n) => this.ledger.adopt(out[n])),
      refs: 0,
    };
    this.layouts.add(layout);
    rows.forEach((r, i) => this.moveTo(r.seqId, layout, i));
    const logits: RunLogits =
      out.logits.location === 'cpu'
        ? lastPositionLogits(out.logits, rows.length, (i) => (ragged ? rows[i].tokens.length : width))
        : { data: EMPTY, rows: rows.length, vocab: out.logits.dims[2], device: out.logits };
    this.lastTiming = { layoutMs: t1 - t0, relayoutMs, ortMs: t2 - t1 };
    return logits;
  }

  release(seqId: number): void {
    const s = this.seqs.get(seqId);
    if (!s) return;
    this.seqs.delete(seqId);
    this.unref(s.layout);
  }

  /**
   * Copies a sequence's cache out of a layout it shares with other rows into one of its own, exactly its length
   * wide, so that the shared layout can be freed once the others move on (a paused sequence keeps only its own).
   */
  async isolate(seqId: number): Promise<void> {
    const s = this.seqs.get(seqId);
    if (!s || s.layout.seqIds.length === 1) return;
    const length = s.layout.lengths[s.row];
    const past = await this.pastFor([s], [length]);
    const layout: KvLayout = { seqIds: [seqId], lengths: [length], width: past.width, keys: past.keys, values: past.values, refs: 0 };
    this.layouts.add(layout);
    this.moveTo(seqId, layout, 0);
  }

  releaseAll(): void {
    for (const id of [...this.seqs.keys()]) this.release(id);
  }

  /** Releases every sequence and the gather graphs' sessions (the decoder's own session stays open). */
  async dispose(): Promise<void> {
    this.releaseAll();
    const graphs = [...this.graphs.values()];
    this.graphs.clear();
    await Promise.all(graphs.map((g) => g.then((x) => x.release(), () => undefined)));
  }

  /** The past of a run: the rows' own layout when it is exactly these rows, else a new gathered one. */
  private async pastFor(
    states: ({ layout: KvLayout; row: number } | null)[],
    pastLengths: number[],
  ): Promise<KvTensors & { width: number; owned: boolean }> {
    const first = states[0]?.layout;
    const sameLayout =
      first !== undefined &&
      first.seqIds.length === states.length &&
      states.every((s, i) => s !== null && s.layout === first && s.row === i);
    if (sameLayout) return { keys: first.keys, values: first.values, width: first.width, owned: false };
    const width = Math.max(...pastLengths);
    if (width === 0) return { ...emptyKv(this.signature, states.length, this.ledger), width: 0, owned: true };
    const sources: KvRowSource[] = states.map((s) => ({ layout: s?.layout ?? null, row: s?.row ?? 0 }));
    const onHost = sourcesOnHost(sources);
    if (this.kvGather === 'graph' || (this.kvGather === 'auto' && !onHost)) {
      const graph = await this.graphFor(onHost ? 'cpu' : 'gpu-buffer');
      const gathered = await graph.gather(this.signature, sources, width, this.ledger);
      this.gathers.graph++;
      return { ...gathered, width, owned: true };
    }
    this.gathers.host++;
    return { ...gatherKv(this.signature, sources, width, this.ledger), width, owned: true };
  }

  /** One gather graph per placement, started on first use (WebGPU tensors: on the WebGPU EP, kept on the device). */
  private graphFor(placement: GraphPlacement): Promise<KvGatherGraph> {
    let graph = this.graphs.get(placement);
    if (!graph) {
      graph = KvGatherGraph.create(this.signature.kvDtype, placement, this.signature.kvAlignment);
      graph.catch(() => this.graphs.delete(placement));
      this.graphs.set(placement, graph);
    }
    return graph;
  }

  private moveTo(seqId: number, layout: KvLayout, row: number): void {
    const old = this.seqs.get(seqId);
    layout.refs++;
    this.seqs.set(seqId, { layout, row });
    if (old) this.unref(old.layout);
  }

  private unref(layout: KvLayout): void {
    layout.refs--;
    if (layout.refs < 0) throw new UnirError('internal_error', 'a KV layout was released more often than it was used');
    if (layout.refs === 0) {
      this.layouts.delete(layout);
      disposeLayout(layout, this.ledger);
    }
  }
}

const EMPTY = new Float32Array(0);

/** Each row's logits at its last token: position `end(row) - 1` of the run's positions (the last one when it kept one). */
function lastPositionLogits(logits: Tensor, rows: number, end: (row: number) => number): RunLogits {
  const [, positions, vocab] = logits.dims;
  // Half-precision exports return float16 logits; fusion and sampling work in float32.
  const data = logits.type === 'float16' ? halfToFloat(halfBits(logits.data as ArrayBufferView)) : (logits.data as Float32Array);
  if (positions === 1) return { data, rows, vocab };
  const last = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const position = Math.min(end(r), positions) - 1;
    const from = (r * positions + position) * vocab;
    last.set(data.subarray(from, from + vocab), r * vocab);
  }
  return { data: last, rows, vocab };
}
