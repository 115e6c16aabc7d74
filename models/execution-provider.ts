import ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';
export type ExecutionProviderChoice = ExecutionProvider | 'auto';
export const EXECUTION_PROVIDERS: readonly ExecutionProviderChoice[] = ['auto', 'cuda', 'webgpu', 'cpu'];
/** The order `auto` tries, fastest first. */
const AUTO_ORDER: readonly ExecutionProvider[] = ['cuda', 'webgpu', 'cpu'];

export interface SessionSettings {
  ep: ExecutionProviderChoice;
  deviceId: number;
  /** ORT intra-op threads for this session; several sessions share the cores, so each gets an explicit count. */
  threads: number;
}

const HOW_TO_INSTALL: Record<ExecutionProvider, string> = {
  cpu: '',
  cuda:
    'the CUDA execution provider is not installed: onnxruntime-node ships without it. Install it with ' +
    '`ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` (CUDA 12 and cuDNN 9 libraries on LD_LIBRARY_PATH), or use the GPU Docker image',
  webgpu:
    'the WebGPU execution provider found no GPU adapter: it needs the Vulkan loader (apt-get install libvulkan1) and ' +
    'the NVIDIA driver with its Vulkan ICD (VK_DRIVER_FILES pointing at nvidia_icd.json)',
};

/**
 * Creates a session on the chosen provider. A provider that cannot start is an error that says what is missing,
 * never a silent fall back to the CPU; only `auto` moves on, and reports what it chose.
 */
export async function createSession(
  onnxPath: string,
  settings: SessionSettings,
  deviceOutputs: readonly string[],
  onAutoChoice?: (ep: ExecutionProvider, skipped: string[]) => void,
): Promise<{ session: InferenceSession; ep: ExecutionProvider }> {
  if (settings.ep !== 'auto') {
    return { session: await createOn(settings.ep, onnxPath, settings, deviceOutputs), ep: settings.ep };
  }
  const skipped: string[] = [];
  for (const ep of AUTO_ORDER) {
    try {
      const session = await createOn(ep, onnxPath, settings, deviceOutputs);
      onAutoChoice?.(ep, skipped);
      return { session, ep };
    } catch (err) {
      if (!(err instanceof UnirError) || err.code !== 'provider_unavailable') throw err;
      skipped.push(`${ep}: ${err.message}`);
    }
  }
  throw new UnirError('provider_unavailable', `no execution provider could start: ${skipped.join('; ')}`);
}

async function createOn(
  ep: ExecutionProvider,
  onnxPath: string,
  settings: SessionSettings,
  deviceOutputs: readonly string[],
): Promise<InferenceSession> {
  const options: InferenceSession.SessionOptions = {
    executionProviders: [ep === 'cpu' ? 'cpu' : { name: ep, deviceId: settings.deviceId } as InferenceSession.ExecutionProviderConfig],
    intraOpNumThreads: settings.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  if (ep === 'webgpu' && deviceOutputs.length > 0) {
    // The KV cache stays on the GPU between steps; logits come to the CPU for fusion and sampling.
    options.preferredOutputLocation = Object.fromEntries(deviceOutputs.map((n) => [n, 'gpu-buffer'] as const));
  }
  try {
    return await ort.InferenceSession.create(onnxPath, options);
  } catch (err) {
    throw classifySessionError(ep, onnxPath, err);
  }
}

/** Tells a provider that cannot start (missing libraries, no adapter) from a model that cannot load. */
export function classifySessionError(ep: ExecutionProvider, onnxPath: string, err: unknown): UnirError {
  const message = err instanceof Error ? err.message : String(err);
  const providerMissing =
    /Failed to load shared library|providers_(cuda|shared)|backend not found|WebGPU adapter|libvulkan|CUDA failure|cudaGetDevice/i.test(message);
  if (ep !== 'cpu' && providerMissing) {
    return new UnirError('provider_unavailable', `${ep}: ${HOW_TO_INSTALL[ep]} (onnxruntime said: ${firstLine(message)})`);
  }
  return new UnirError('invalid_model_dir', `${onnxPath} could not be loaded by ONNX Runtime: ${firstLine(message)}`);
}

function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 400);
}
