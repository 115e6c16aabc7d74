import { UnirError } from '../../common/errors.js';
import { createSessionOn, probeHost, providerHint, webgpuAdapter, type ExecutionProvider } from '../../models/execution-provider.js';
import { graphPath } from '../../models/kv-gather-graph.js';
import type { WebGpuAdapter } from '../../models/webgpu-adapter.js';

/** One provider of the contract suites: null `reason` when it starts here, else why not. */
export interface ProviderCase {
  ep: ExecutionProvider;
  reason: string | null;
  adapter: WebGpuAdapter | null;
  /** Largest |logit - PyTorch's| accepted, per KV/activation dtype of the fixture. */
  tolerance: { float32: number; float16: number };
}

/**
 * Tolerances against PyTorch's float32 references. Measured worst |difference| over every reference step: cpu
 * 3.1e-6 (float32 fixture) and 3.8e-6 (float16 KV fixture); webgpu on lavapipe 3.1e-6 and 2.8e-6. WebGPU keeps
 * the CPU's bounds. CUDA has not been measured (no GPU here): a looser bound until the GPU run records one.
 */
const TOLERANCE: Record<ExecutionProvider, ProviderCase['tolerance']> = {
  cpu: { float32: 1e-4, float16: 1e-2 },
  webgpu: { float32: 1e-4, float16: 1e-2 },
  cuda: { float32: 1e-3, float16: 3e-2 },
};

const ORDER: readonly ExecutionProvider[] = ['cpu', 'webgpu', 'cuda'];

/** Starts each provider for real (a session on a one-node graph; WebGPU's adapter probe); `only` is UNIR_TEST_EPS. */
export async function detectProviders(only?: string): Promise<ProviderCase[]> {
  const chosen = only ? only.split(',').map((s) => s.trim()) : null;
  const out: ProviderCase[] = [];
  for (const ep of ORDER) {
    const base = { ep, adapter: null, tolerance: TOLERANCE[ep] };
    if (chosen && !chosen.includes(ep)) {
      out.push({ ...base, reason: `not selected (UNIR_TEST_EPS=${only})` });
      continue;
    }
    try {
      let adapter: WebGpuAdapter | null = null;
      if (ep === 'webgpu') {
        const probe = await webgpuAdapter();
        if (!probe.ok) throw new Error(probe.error);
        adapter = probe.adapter;
      } else if (ep === 'cuda' && !probeHost().cudaProviderInstalled) {
        throw new Error(`cuda: ${providerHint('cuda', '')}`);
      } else {
        const session = await createSessionOn(ep, graphPath('kv_copy', 'float32'), { ep, deviceId: 0, threads: 1 });
        await session.release();
      }
      out.push({ ...base, adapter, reason: null });
    } catch (err) {
      const message = err instanceof UnirError || err instanceof Error ? err.message : String(err);
      out.push({ ...base, reason: message.split('\n')[0].slice(0, 300) });
    }
  }
  return out;
}
