import ort from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import { graphPath, type GraphPlacement } from './kv-gather-graph.js';

/** One model's part of a fused step. */
export interface FuseTerm {
  /** The model's logits of this step, [R, S, Vm] float32 or float16, on the device or on the host. */
  logits: Tensor;
  /** For each fused row, its row in `logits`, or -1 when that row does not take this model. */
  rows: Int32Array;
  /** For each fused row, the model's weight (1 for the base; a weight of 0 takes nothing, as on the host). */
  weights: Float32Array;
}

/**
 * z = z_base + Σ w_i · z_i computed by ONNX Runtime where the logits are (models/graphs/logits_fuse_*.onnx,
 * written by training/make_logits_fuse_graph.py): one run per model, each output fed to the next run as `acc` and
 * kept on the device, the last one fetched to the host. Only the fused rows leave the device: n × vocab floats
 * instead of one row per model per sequence. Ids past a module's vocabulary take the base alone (kernels/fuse-logits.ts).
 */
export class LogitsFuseGraph {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  private readonly zeros = new ort.Tensor('float32', new Float32Array(1), [1, 1]);

  constructor(readonly placement: GraphPlacement) {}

  /**
   * The fused rows, [n, vocab] float32 on the host; `terms[0]` is the base (its vocabulary is `vocab`). The terms'
   * logits stay the caller's to dispose.
   */
  async fuse(terms: readonly FuseTerm[], n: number, vocab: number): Promise<Float32Array> {
    let acc: Tensor | null = null;
    try {
      for (let t = 0; t < terms.length; t++) {
        const { logits, rows, weights } = terms[t];
        const last = t === terms.length - 1;
        const shared = Math.min(vocab, logits.dims[2]);
        const keep = Uint8Array.from(rows, (r, i) => (r >= 0 && weights[i] !== 0 ? 1 : 0));
        const feeds = {
          logits,
          acc: acc ?? this.zeros,
          rows: new ort.Tensor('int64', BigInt64Array.from(rows, (r) => BigInt(Math.max(r, 0))), [n]),
          weights: new ort.Tensor('float32', weights, [n, 1]),
          keep: new ort.Tensor('bool', keep, [n, 1]),
          shared: new ort.Tensor('int64', BigInt64Array.of(BigInt(shared)), [1]),
          pads: new ort.Tensor('int64', BigInt64Array.of(0n, 0n, 0n, BigInt(vocab - shared)), [4]),
        };
        const session = await this.session(logits.type === 'float16' ? 'float16' : 'float32', last ? 'cpu' : this.placement);
        let out: Tensor;
        try {
          out = (await session.run(feeds)).out;
        } finally {
          acc?.dispose();
          acc = null;
        }
        if (last) return out.data as Float32Array;
        acc = out;
      }
    } catch (err) {
      acc?.dispose();
      if (err instanceof UnirError) throw err;
      throw new UnirError('model_failed', `fusing the logits on the device failed: ${(err as Error).message.split('\n')[0]}`);
    }
    throw new UnirError('internal_error', 'device fusion needs at least the base');
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.then((x) => x.release(), () => undefined)));
  }

  /** A session per input dtype and output location: the provider of the placement, the output kept there or fetched. */
  private session(dtype: 'float32' | 'float16', out: GraphPlacement): Promise<InferenceSession> {
    const key = `${dtype}:${out}`;
    let s = this.sessions.get(key);
    if (!s) {
      const options: InferenceSession.SessionOptions = {
        executionProviders: [this.placement === 'gpu-buffer' ? 'webgpu' : 'cpu'],
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      };
      if (out === 'gpu-buffer') options.preferredOutputLocation = { out: 'gpu-buffer' };
      s = ort.InferenceSession.create(graphPath('logits_fuse', dtype), options).catch((err: Error) => {
        this.sessions.delete(key);
        throw new UnirError('internal_error', `the logits fusion graph could not start on ${this.placement}: ${err.message.split('\n')[0]}`);
      });
      this.sessions.set(key, s);
    }
    return s;
  }
}
