import type { Tensor } from 'onnxruntime-node';
import ort from 'onnxruntime-node';
import type { RunLogits } from '../models/decoder-runner.js';
import type { GraphPlacement } from '../models/kv-gather-graph.js';
import { LogitsFuseGraph, type FuseTerm } from '../models/logits-fuse-graph.js';
import type { Sequence } from './sequence.js';

/** One model's runs of a step: decode rows and prefill rows (null where it did not run or failed). */
export interface StepLogits {
  key: number;
  decode: RunLogits | null;
  prefill: RunLogits | null;
}

/**
 * `--fusion-site device`: the step's logits stay where the models ran and are fused there (models/logits-fuse-graph.ts);
 * the scheduler gets one fused row per sequence that samples. Row order follows the scheduler's runs: model k's
 * rows are the group's sequences that use k, in group order. Every device logits tensor of the step is disposed here.
 */
export class DeviceFusion {
  private readonly graph: LogitsFuseGraph;
  /** Rows fused so far. */
  fusedRows = 0;

  constructor(placement: GraphPlacement, private readonly vocab: number) {
    this.graph = new LogitsFuseGraph(placement);
  }

  /** Fused rows by sequence id, for the decoding sequences and the prefilled ones that sample this step. */
  async fuseStep(results: readonly StepLogits[], decoding: readonly Sequence[], prefilled: readonly Sequence[], sampling: (s: Sequence) => boolean): Promise<Map<number, Float32Array>> {
    const fused = new Map<number, Float32Array>();
    try {
      for (const [group, which] of [[decoding, 'decode'], [prefilled, 'prefill']] as const) {
        const wanted = group.filter(sampling);
        if (wanted.length === 0) continue;
        const rows = await this.graph.fuse(this.terms(results, group, wanted, which), wanted.length, this.vocab);
        wanted.forEach((s, i) => fused.set(s.id, rows.subarray(i * this.vocab, (i + 1) * this.vocab)));
        this.fusedRows += wanted.length;
      }
    } finally {
      for (const r of results) for (const l of [r.decode, r.prefill]) l?.device?.dispose();
    }
    return fused;
  }

  async release(): Promise<void> {
    await this.graph.release();
  }

  private terms(results: readonly StepLogits[], group: readonly Sequence[], wanted: readonly Sequence[], which: 'decode' | 'prefill'): FuseTerm[] {
    // Base first, then modules by version id: the host's order (Sequence.modelKeys is sorted).
    const ordered = [...results].sort((a, b) => a.key - b.key);
    const terms: FuseTerm[] = [];
    for (const r of ordered) {
      const logits = r[which];
      if (!logits) continue;
      const rowOf = new Map<number, number>();
      for (const s of group) if (s.modelKeys.includes(r.key)) rowOf.set(s.id, rowOf.size);
      const rows = Int32Array.from(wanted, (s) => rowOf.get(s.id) ?? -1);
      if (rows.every((x) => x < 0)) continue;
      const weights = Float32Array.from(wanted, (s) => (!s.modelKeys.includes(r.key) ? 0 : r.key === 0 ? 1 : s.weightOf(r.key)));
      terms.push({ logits: logits.device ?? hostTensor(logits), rows, weights });
    }
    return terms;
  }
}

function hostTensor(l: RunLogits): Tensor {
  return new ort.Tensor('float32', l.data, [l.rows, 1, l.vocab]);
}
