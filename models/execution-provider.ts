import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import { graphPath } from './kv-gather-graph.js';
import { adapterLabel, probeWebGpuAdapter, type AdapterProbe, type WebGpuAdapter } from './webgpu-adapter.js';
import type { LogitsGraph } from './logits-graph-cache.js';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';
export type ExecutionProviderChoice = ExecutionProvider | 'auto';
export const EXECUTION_PROVIDERS: readonly ExecutionProviderChoice[] = ['auto', 'cuda', 'webgpu', 'cpu'];
/** The order `auto` tries, fastest first. */
export const AUTO_ORDER: readonly ExecutionProvider[] = ['cuda', 'webgpu', 'cpu'];

export interface SessionSettings {
  ep: ExecutionProviderChoice;
  deviceId: number;
  /** ORT intra-op threads for this session; several sessions share the cores, so each gets an explicit count. */
  threads: number;
  /** Where rewritten graphs are cached (models/logits-graph-cache.ts); undefined: the default, null: none. */
  graphCacheDir?: string | null;
  /** false: exports without num_logits_to_keep are served unchanged (default true). */
  rewriteLogitsGraph?: boolean;
  /**
   * What the logits graph cache keys a graph by when given (a module's content hash: its files are a fresh private
   * copy at every load, adapters/module-load.ts); else the graph's real path, size and modification time.
   */
  graphCacheKey?: string;
  /** `auto` may choose a software WebGPU adapter (lavapipe, SwiftShader, any adapter of type CPU). Default false. */
  allowSoftwareAdapter?: boolean;
  /** The WebGPU adapter, when a thread already probed it (the probe is a child process: done once, passed on). */
  adapterProbe?: AdapterProbe;
  /** WebGPU: keep the `logits` output on the device too (device-side fusion fetches only the fused rows). */
  logitsOnDevice?: boolean;
}

let adapterProbe: Promise<AdapterProbe> | null = null;

/** The adapter the WebGPU provider opens on this host, probed once per thread (see webgpu-adapter.ts). */
export function webgpuAdapter(settings: Pick<SessionSettings, 'adapterProbe'> = {}): Promise<AdapterProbe> {
  if (settings.adapterProbe) return Promise.resolve(settings.adapterProbe);
  adapterProbe ??= probeWebGpuAdapter(graphPath('kv_copy', 'float32'));
  return adapterProbe;
}

/** Whether a base on `ep` and modules on `moduleEp` (null or auto: the base's provider) can run on WebGPU. */
export function mayUseWebGpu(ep: ExecutionProviderChoice, moduleEp: ExecutionProviderChoice | null): boolean {
  const webgpu = (e: ExecutionProviderChoice) => e === 'webgpu' || e === 'auto';
  return webgpu(ep) || (moduleEp !== null && moduleEp !== 'auto' && webgpu(moduleEp));
}

/**
 * Why `auto` passes over a software adapter; `--ep webgpu` on one starts, with this as a warning (`allowed`: the
 * server runs with --allow-software-adapter, so auto may have chosen it).
 */
export function softwareAdapterNote(a: WebGpuAdapter, allowed = false): string {
  return (
    `the WebGPU adapter is a software renderer (${adapterLabel(a)}): it runs on the CPU, far slower than --ep cpu; ` +
    (allowed ? '--allow-software-adapter lets --ep auto choose it' : '--ep auto passes over it unless --allow-software-adapter is given')
  );
}

export interface CreatedSession {
  session: InferenceSession;
  ep: ExecutionProvider;
  /** The WebGPU adapter the session runs on (null on other providers). */
  adapter: WebGpuAdapter | null;
}

/**
 * The install command of the CUDA provider, named in every CUDA error (the npm package ships without it). It runs
 * onnxruntime-node's install script directly: package.json's allowScripts keeps npm from running it on `npm ci`.
 */
export const CUDA_INSTALL = 'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install';

/**
 * Creates a session on the chosen provider. A provider that cannot start is an error that says what is missing,
 * never a silent fall back to the CPU; only `auto` moves on, and reports what it chose and what it skipped.
 */
export async function createSession(
  onnxPath: string,
  settings: SessionSettings,
  deviceOutputs: readonly string[],
  onAutoChoice?: (ep: ExecutionProvider, skipped: string[]) => void,
  graph?: LogitsGraph,
): Promise<CreatedSession> {
  if (settings.ep !== 'auto') {
    const adapter = settings.ep === 'webgpu' ? await adapterOrThrow(onnxPath, settings) : null;
    return { session: await createSessionOn(settings.ep, onnxPath, settings, deviceOutputs, graph), ep: settings.ep, adapter };
  }
  const skipped: string[] = [];
  for (const ep of AUTO_ORDER) {
    try {
      let adapter: WebGpuAdapter | null = null;
      if (ep === 'webgpu') {
        adapter = await adapterOrThrow(onnxPath, settings);
        if (adapter.software && !settings.allowSoftwareAdapter) throw new UnirError('provider_unavailable', `webgpu: ${softwareAdapterNote(adapter)}`);
      }
      const session = await createSessionOn(ep, onnxPath, settings, deviceOutputs, graph);
      onAutoChoice?.(ep, skipped);
      return { session, ep, adapter };
    } catch (err) {
      if (!(err instanceof UnirError) || err.code !== 'provider_unavailable') throw err;
      skipped.push(err.message);
    }
  }
  throw new UnirError('provider_unavailable', `no execution provider could start: ${skipped.join('; ')}`);
}

/** The WebGPU adapter, or provider_unavailable saying what is missing when there is none. */
async function adapterOrThrow(onnxPath: string, settings: SessionSettings): Promise<WebGpuAdapter> {
  if (settings.deviceId !== 0) sessionOptionsFor('webgpu', settings, []); // throws the --device-id explanation first
  const probe = await webgpuAdapter(settings);
  if (probe.ok) return probe.adapter;
  // The probe runs a one-node graph of ours, never the model: whatever stopped it is the provider's.
  if (probe.probeFailed) throw new UnirError('provider_unavailable', `webgpu: ${probe.error}`);
  if (PROVIDER_FAILURE.test(probe.error)) throw classifySessionError('webgpu', onnxPath, new Error(probe.error));
  throw new UnirError('provider_unavailable', `webgpu: the WebGPU provider could not create a session (onnxruntime said: ${firstLine(probe.error)})`);
}

/** The session options of one provider (WebGPU: `deviceOutputs` stay on the device between runs). */
export function sessionOptionsFor(ep: ExecutionProvider, settings: SessionSettings, deviceOutputs: readonly string[]): InferenceSession.SessionOptions {
  let provider: InferenceSession.ExecutionProviderConfig;
  if (ep === 'cuda') provider = { name: 'cuda', deviceId: settings.deviceId };
  else if (ep === 'webgpu') {
    // The Node binding's WebGPU EP takes no device index (it rejects `deviceId`): Dawn picks the adapter.
    if (settings.deviceId !== 0) {
      throw new UnirError(
        'provider_unavailable',
        `webgpu: --device-id ${settings.deviceId} cannot be honoured (the WebGPU provider of onnxruntime-node takes no device index): ` +
          'make only that GPU visible to the process instead (docker run --gpus device=N, or NVIDIA_VISIBLE_DEVICES=N) and keep --device-id 0',
      );
    }
    provider = 'webgpu';
  } else provider = 'cpu';
  const options: InferenceSession.SessionOptions = {
    executionProviders: [provider],
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
  return options;
}

/** A session on exactly this provider, or provider_unavailable naming what is missing. */
export async function createSessionOn(
  ep: ExecutionProvider,
  onnxPath: string,
  settings: SessionSettings,
  deviceOutputs: readonly string[] = [],
  graph?: LogitsGraph,
): Promise<InferenceSession> {
  const options = sessionOptionsFor(ep, settings, deviceOutputs);
  try {
    if (graph?.bytes) {
      // A rewritten graph held in memory: its external data files stay beside the export.
      const extra = { session: { model_external_initializers_file_folder_path: graph.externalDataDir } };
      return await ort.InferenceSession.create(graph.bytes, { ...options, extra: { ...options.extra, ...extra } });
    }
    return await ort.InferenceSession.create(graph?.path ?? onnxPath, options);
  } catch (err) {
    throw classifySessionError(ep, onnxPath, err);
  }
}

const PROVIDER_FAILURE =
  /Failed to load (shared )?library|providers_(cuda|shared)|backend not found|WebGPU adapter|No supported adapters|libvulkan|Vulkan|CUDA failure|CUDA driver|cudaGetDevice|cudaError|libcudnn|libcublas|libcudart|libcurand|libcufft/i;

/** Tells a provider that cannot start (missing libraries, no adapter) from a model that cannot load. */
export function classifySessionError(ep: ExecutionProvider, onnxPath: string, err: unknown): UnirError {
  const message = err instanceof Error ? err.message : String(err);
  if (ep !== 'cpu' && PROVIDER_FAILURE.test(message)) {
    return new UnirError('provider_unavailable', `${ep}: ${providerHint(ep, message)} (onnxruntime said: ${firstLine(message)})`);
  }
  return new UnirError('invalid_model_dir', `${onnxPath} could not be loaded by ONNX Runtime: ${firstLine(message)}`);
}

/** What is missing for a provider, from ORT's message and what can be seen on this machine. */
export function providerHint(ep: 'cuda' | 'webgpu', ortMessage: string, probe: ProviderProbe = probeHost()): string {
  if (ep === 'cuda') {
    if (!probe.cudaProviderInstalled) {
      return (
        `the CUDA execution provider is not installed: onnxruntime-node ships without it (no libonnxruntime_providers_cuda.so in ${probe.bindingDir}). ` +
        `Install it with \`${CUDA_INSTALL}\` (then the CUDA 12 and cuDNN 9 runtime libraries must be on LD_LIBRARY_PATH), or use the GPU Docker image`
      );
    }
    if (/no CUDA-capable device|cudaErrorNoDevice|driver version is insufficient|CUDA driver/i.test(ortMessage)) {
      return 'the CUDA provider is installed but no usable NVIDIA GPU is visible: check nvidia-smi and the driver; in Docker run with --gpus all';
    }
    return (
      'the CUDA provider is installed but the CUDA libraries it links could not be loaded (ONNX Runtime\'s log line names the missing one): ' +
      `the provider \`${CUDA_INSTALL}\` installs needs the CUDA 12 runtime (cudart, cuBLAS, cuRAND, cuFFT) and cuDNN 9; install them or add their directories to LD_LIBRARY_PATH`
    );
  }
  const missing: string[] = [];
  for (const [name, files] of Object.entries(probe.driverFilesMissing)) {
    missing.push(`${name} names ${files.join(', ')}, which does not exist: the Vulkan loader reads only the driver manifests it names`);
  }
  if (!probe.vulkanLoader) missing.push('the Vulkan loader libvulkan.so.1 is not installed (apt-get install libvulkan1)');
  if (!probe.vulkanIcd) {
    missing.push(
      'no NVIDIA Vulkan driver manifest (nvidia_icd.json) was found: install the NVIDIA driver, and in Docker run with --gpus all and ' +
        'NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics, or point VK_DRIVER_FILES at the driver\'s nvidia_icd.json',
    );
  }
  const found = missing.length > 0 ? `: ${missing.join('; ')}` : ' although the Vulkan loader and a driver manifest are present: check nvidia-smi and the driver version';
  return `the WebGPU execution provider found no GPU adapter (it needs the Vulkan loader and the NVIDIA driver's Vulkan ICD)${found}`;
}

export interface ProviderProbe {
  bindingDir: string;
  cudaProviderInstalled: boolean;
  vulkanLoader: boolean;
  vulkanIcd: boolean;
  /** VK_DRIVER_FILES / VK_ICD_FILENAMES entries that do not exist, by variable (the loader then reads no other manifest). */
  driverFilesMissing: Record<string, string[]>;
}

/** Looks for the files the GPU providers load: the CUDA provider beside the binding, the Vulkan loader and ICD. */
export function probeHost(env: NodeJS.ProcessEnv = process.env): ProviderProbe {
  const bindingDir = ortBindingDir();
  const libDirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib',
  ];
  // The loader reads the manifests VK_DRIVER_FILES (or the older VK_ICD_FILENAMES) names instead of its directories.
  const variable = env.VK_DRIVER_FILES ? 'VK_DRIVER_FILES' : env.VK_ICD_FILENAMES ? 'VK_ICD_FILENAMES' : null;
  const named = variable ? env[variable]!.split(delimiter).filter(Boolean) : [];
  const icdFiles = variable
    ? named
    : ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/local/nvidia/share/vulkan/icd.d'].map((d) => join(d, 'nvidia_icd.json'));
  const absent = named.filter((f) => !existsSync(f));
  return {
    bindingDir,
    cudaProviderInstalled: existsSync(join(bindingDir, 'libonnxruntime_providers_cuda.so')),
    vulkanLoader: libDirs.some((d) => existsSync(join(d, 'libvulkan.so.1'))),
    vulkanIcd: icdFiles.some((f) => existsSync(f)),
    driverFilesMissing: variable && absent.length > 0 ? { [variable]: absent } : {},
  };
}

/** The directory of the onnxruntime-node binding in use, where the CUDA provider libraries must sit. */
export function ortBindingDir(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** ORT's first line without its source location ("/onnxruntime_src/...cc:136 ... was false. "). */
function firstLine(s: string): string {
  const line = s.split('\n')[0];
  const assertion = / was false\. (.+)$/.exec(line);
  return (assertion ? assertion[1] : line.replace(/^\S*onnxruntime_src\S*\s+/, '')).slice(0, 400);
}
