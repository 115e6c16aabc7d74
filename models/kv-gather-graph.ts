import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import type { DecoderSignature, KvDtype } from './decoder-signature.js';
import type { KvLayout, KvRowSource, KvTensors, TensorLedger } from './kv-layout.js';

/** Where a graph's tensors live: 'cpu' (the CPU EP) or 'gpu-buffer' (the WebGPU EP, output kept on the device). */
export type GraphPlacement = 'cpu' | 'gpu-buffer';

/**
 * The file of one of the small graphs of models/graphs/ (written by training/make_kv_gather_graph.py). They
 * sit beside this module in the source tree; compiled code (dist/models/) finds them in the source tree too.
 */
export function graphPath(name: 'kv_gather' | 'kv_copy' | 'logits_fuse', dtype: KvDtype): string {
  const file = `${name}_${dtype === 'float16' ? 'f16' : 'f32'}.onnx`;
  const candidates = [new URL(`./graphs/${file}`, import.meta.url), new URL(`../../models/graphs/${file}`, import.meta.url)];
  for (const url of candidates) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new UnirError('internal_error', `models/graphs/${file} is missing: run /usr/bin/python3 training/make_${name === 'logits_fuse' ? 'logits_fuse' : 'kv_gather'}_graph.py`);
}

/**
 * Lays a KV cache out again with ONNX Runtime rather than on the host: a batch change on WebGPU must not
 * bring the cache to the host (Tensor.download() is not implemented in Node). For each source layout it
 * runs kv_gather once per layer tensor, feeding the previous output as `acc`, so rows from several layouts
 * meet in one tensor; every intermediate output is disposed as soon as the next run has consumed it.
 * The result is exactly the host copy's (gatherKv): Gather and Where copy values.
 */
export class KvGatherGraph {
  private readonly zeros: Tensor;

  private constructor(
    private readonly session: InferenceSession,
    readonly placement: GraphPlacement,
    readonly dtype: KvDtype,
  ) {
    const zero = dtype === 'float16' ? new Uint16Array(1) : new Float32Array(1);
    this.zeros = new ort.Tensor(dtype, zero, [1, 1, 1, 1]);
  }

  /** The graph on the provider that holds tensors of `placement`: CPU, or WebGPU with its output on the device. */
  static async create(dtype: KvDtype, placement: GraphPlacement): Promise<KvGatherGraph> {
    const options: InferenceSession.SessionOptions = {
      executionProviders: [placement === 'gpu-buffer' ? 'webgpu' : 'cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    };
    if (placement === 'gpu-buffer') options.preferredOutputLocation = { out: 'gpu-buffer' };
    try {
      return new KvGatherGraph(await ort.InferenceSession.create(graphPath('kv_gather', dtype), options), placement, dtype);
    } catch (err) {
      throw new UnirError('internal_error', `the KV gather graph could not start on ${placement}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  /** Rows of one or more layouts in fresh tensors of `width` columns, each row right-aligned; null rows are zeros. */
  async gather(sig: DecoderSignature, sources: readonly KvRowSource[], width: number, ledger: TensorLedger): Promise<KvTensors> {
    const layouts = [...new Set(sources.map((s) => s.layout).filter((l): l is KvLayout => l !== null))];
    if (layouts.length === 0) throw new UnirError('internal_error', 'the device gather needs at least one row with a cache');
    const n = sources.length;
    const feedsOf = layouts.map((layout) => ({
      rows: new ort.Tensor('int64', BigInt64Array.from(sources, (s) => BigInt(s.layout === layout ? s.row : 0)), [n]),
      lengths: new ort.Tensor('int64', BigInt64Array.from(sources, (s) => BigInt(s.layout === layout ? layout.lengths[s.row] : 0)), [n]),
    }));
    const widthTensor = new ort.Tensor('int64', BigInt64Array.of(BigInt(width)), [1]);
    const one = async (pick: (l: KvLayout) => Tensor[], layer: number): Promise<Tensor> => {
      let acc: Tensor | null = null;
      for (let i = 0; i < layouts.length; i++) {
        const feeds = { kv: pick(layouts[i])[layer], acc: acc ?? this.zeros, ...feedsOf[i], width: widthTensor };
        let out: Tensor;
        try {
          out = (await this.session.run(feeds)).out;
        } finally {
          if (acc) ledger.dispose(acc);
        }
        acc = ledger.adopt(out);
      }
      return acc!;
    };
    const keys: Tensor[] = [];
    const values: Tensor[] = [];
    try {
      for (let i = 0; i < sig.pastKeyNames.length; i++) keys.push(await one((l) => l.keys, i));
      for (let i = 0; i < sig.pastValueNames.length; i++) values.push(await one((l) => l.values, i));
    } catch (err) {
      for (const t of [...keys, ...values]) ledger.dispose(t);
      if (err instanceof UnirError) throw err;
      throw new UnirError('model_failed', `re-laying out the KV cache failed: ${(err as Error).message.split('\n')[0]}`);
    }
    return { keys, values };
  }

  async release(): Promise<void> {
    await this.session.release().catch(() => undefined);
  }
}
