import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UnirError } from '../../../common/errors.js';
import {
  classifySessionError,
  createSession,
  CUDA_INSTALL,
  mayUseWebGpu,
  probeHost,
  providerHint,
  sessionOptionsFor,
  type ExecutionProvider,
  type ProviderProbe,
} from '../../../models/execution-provider.js';
import { graphPath } from '../../../models/kv-gather-graph.js';
import { probeWebGpuAdapter, type AdapterProbe, type WebGpuAdapter } from '../../../models/webgpu-adapter.js';
import { MHA } from '../../helpers/fixtures.js';
import { PROVIDERS } from '../../helpers/providers.js';

const MODEL = join(MHA, 'model.onnx');
const settings = { deviceId: 0, threads: 1 };
const noCuda = !probeHost().cudaProviderInstalled;
/** What this host's WebGPU provider opens (tests/provider-setup.ts probed it): null when there is no adapter. */
const hostAdapter = PROVIDERS.find((p) => p.ep === 'webgpu')?.adapter ?? null;
/** A host without any adapter, whatever this one has: ONNX Runtime's own words when Dawn finds none. */
const NO_ADAPTER: AdapterProbe = {
  ok: false,
  error: 'webgpu_context.cc:136 adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters',
};
const adapter = (a: Partial<WebGpuAdapter>): AdapterProbe => ({
  ok: true,
  adapter: { device: 'X', vendor: 'V', vendorId: 1, deviceId: 2, type: 'discrete GPU', driver: 'libx.so', software: false, ...a },
});

async function failure(p: Promise<unknown>): Promise<UnirError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UnirError);
    return err as UnirError;
  }
  throw new Error('expected a failure');
}

describe('createSession on a provider that cannot start', () => {
  it.skipIf(!noCuda)('cuda: provider_unavailable naming the install command, no fall back to the CPU', async () => {
    const err = await failure(createSession(MODEL, { ep: 'cuda', ...settings }, []));
    expect(err.code).toBe('provider_unavailable');
    expect(err.message).toContain(CUDA_INSTALL);
    expect(err.message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci');
    expect(err.message).toMatch(/^cuda: /);
  });

  it('webgpu with no adapter: provider_unavailable naming the Vulkan loader and the NVIDIA driver', async () => {
    const err = await failure(createSession(MODEL, { ep: 'webgpu', ...settings, adapterProbe: NO_ADAPTER }, ['present.0.key']));
    expect(err.code).toBe('provider_unavailable');
    expect(err.message).toMatch(/^webgpu: /);
    expect(err.message).toContain('Vulkan loader');
    expect(err.message).toContain('NVIDIA driver');
    expect(err.message).toMatch(/no GPU adapter/);
    expect(err.message).toContain('(onnxruntime said: Failed to get a WebGPU adapter: No supported adapters)');
  });

  it('webgpu with a device index: refused before ORT, saying how to pick the GPU instead', async () => {
    const err = await failure(createSession(MODEL, { ep: 'webgpu', deviceId: 1, threads: 1 }, []));
    expect(err.code).toBe('provider_unavailable');
    expect(err.message).toContain('--device-id 1');
    expect(err.message).toContain('NVIDIA_VISIBLE_DEVICES');
  });

  it.skipIf(!noCuda)('auto with no adapter: picks cpu and reports each provider it skipped, with the reason', async () => {
    let chosen: ExecutionProvider | null = null;
    let skipped: string[] = [];
    const { session, ep } = await createSession(MODEL, { ep: 'auto', ...settings, adapterProbe: NO_ADAPTER }, ['present.0.key'], (e, s) => {
      chosen = e;
      skipped = s;
    });
    await session.release();
    expect(ep).toBe('cpu');
    expect(chosen).toBe('cpu');
    expect(skipped).toHaveLength(2);
    expect(skipped[0]).toMatch(/^cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci/);
    expect(skipped[1]).toMatch(/^webgpu: .*Vulkan loader/);
  });

  it.skipIf(!noCuda)('auto passes over a software adapter unless allowed, naming it', async () => {
    const soft = adapter({ device: 'llvmpipe (LLVM 19.1.7, 256 bits)', vendor: 'Mesa', type: 'CPU', driver: 'libvulkan_lvp.so', software: true });
    let skipped: string[] = [];
    const cpu = await createSession(MODEL, { ep: 'auto', ...settings, adapterProbe: soft }, [], (_e, s) => (skipped = s));
    await cpu.session.release();
    expect(cpu.ep).toBe('cpu');
    expect(skipped[1]).toMatch(/^webgpu: the WebGPU adapter is a software renderer \(llvmpipe \(LLVM 19\.1\.7, 256 bits\), vendor Mesa .*type CPU, driver libvulkan_lvp\.so\)/);
    expect(skipped[1]).toContain('--allow-software-adapter');
  });

  it.skipIf(!noCuda)('a probe whose child the driver crashed: auto serves on cpu, webgpu is provider_unavailable naming the crash', async () => {
    const preload = join(mkdtempSync(join(tmpdir(), 'unir-probe-')), 'driver.cjs');
    writeFileSync(preload, "process.kill(process.pid, 'SIGSEGV');");
    const crashed = await probeWebGpuAdapter(graphPath('kv_copy', 'float32'), { ...process.env, NODE_OPTIONS: `--require ${preload}` });
    let skipped: string[] = [];
    const auto = await createSession(MODEL, { ep: 'auto', ...settings, adapterProbe: crashed }, [], (_e, s) => (skipped = s));
    await auto.session.release();
    expect(auto.ep).toBe('cpu');
    expect(skipped[1]).toMatch(/^webgpu: the WebGPU adapter probe .* was killed by SIGSEGV/);
    const err = await failure(createSession(MODEL, { ep: 'webgpu', ...settings, adapterProbe: crashed }, []));
    expect(err.code).toBe('provider_unavailable');
    expect(err.message).toMatch(/^webgpu: the WebGPU adapter probe .* was killed by SIGSEGV: the Vulkan driver crashed it$/);
    expect(err.message).not.toContain(MODEL); // the probe never read the model
  });

  // The real choice on this host: what auto picks follows from what the adapter probe found.
  it.skipIf(!noCuda || hostAdapter === null)(`auto on this host's adapter (${hostAdapter?.device ?? 'none'}): webgpu if it is hardware or allowed, else cpu`, async () => {
    const real = await createSession(MODEL, { ep: 'auto', ...settings }, []);
    await real.session.release();
    expect(real.ep).toBe(hostAdapter!.software ? 'cpu' : 'webgpu');
    const allowed = await createSession(MODEL, { ep: 'auto', ...settings, allowSoftwareAdapter: true }, []);
    await allowed.session.release();
    expect(allowed.ep).toBe('webgpu');
    expect(allowed.adapter).toEqual(hostAdapter);
  });

  it('auto does not hide a broken model behind "no provider": the model error comes through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unir-ep-'));
    const bad = join(dir, 'model.onnx');
    writeFileSync(bad, 'not an onnx graph');
    const err = await failure(createSession(bad, { ep: 'auto', ...settings }, []));
    expect(err.code).toBe('invalid_model_dir');
    expect(err.message).toContain(bad);
  });
});

describe('classifySessionError', () => {
  it('a model that cannot load is invalid_model_dir on any provider', () => {
    for (const ep of ['cpu', 'cuda', 'webgpu'] as const) {
      const err = classifySessionError(ep, '/m/model.onnx', new Error('Load model from /m/model.onnx failed: Protobuf parsing failed.'));
      expect(err.code).toBe('invalid_model_dir');
    }
  });

  it('a provider library or adapter failure is provider_unavailable, with ORT\'s words stripped of its source path', () => {
    const err = classifySessionError(
      'webgpu',
      '/m/model.onnx',
      new Error('/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 lambda adapter_result.status == Success was false. Failed to get a WebGPU adapter: No supported adapters\n'),
    );
    expect(err.code).toBe('provider_unavailable');
    expect(err.message).toContain('(onnxruntime said: Failed to get a WebGPU adapter: No supported adapters)');
    expect(err.message).not.toContain('onnxruntime_src');
    expect(classifySessionError('cuda', '/m', new Error('libcudnn.so.9: cannot open shared object file')).code).toBe('provider_unavailable');
  });
});

describe('providerHint: what is missing, from what the machine has', () => {
  const probe = (p: Partial<ProviderProbe>): ProviderProbe => ({ bindingDir: '/b', cudaProviderInstalled: false, vulkanLoader: false, vulkanIcd: false, driverFilesMissing: {}, ...p });

  it('cuda not installed: the install command', () => {
    expect(providerHint('cuda', 'Failed to load shared library', probe({}))).toContain(`\`${CUDA_INSTALL}\``);
  });

  it('cuda installed, its CUDA/cuDNN libraries missing: the libraries and LD_LIBRARY_PATH', () => {
    const hint = providerHint('cuda', 'libcublasLt.so.12: cannot open shared object file', probe({ cudaProviderInstalled: true }));
    expect(hint).toMatch(/cuDNN 9/);
    expect(hint).toContain('LD_LIBRARY_PATH');
  });

  it('cuda installed, no GPU: the driver and --gpus all', () => {
    const hint = providerHint('cuda', 'CUDA failure 100: no CUDA-capable device is detected', probe({ cudaProviderInstalled: true }));
    expect(hint).toMatch(/no usable NVIDIA GPU/);
    expect(hint).toContain('--gpus all');
  });

  it('webgpu: names only what is missing', () => {
    const icdOnly = providerHint('webgpu', 'No supported adapters', probe({ vulkanLoader: true }));
    expect(icdOnly).not.toContain('apt-get install libvulkan1');
    expect(icdOnly).toContain('nvidia_icd.json');
    const loaderOnly = providerHint('webgpu', 'No supported adapters', probe({ vulkanIcd: true }));
    expect(loaderOnly).toContain('apt-get install libvulkan1');
    expect(loaderOnly).not.toContain('VK_DRIVER_FILES');
  });
});

describe('providerHint on this host: VK_DRIVER_FILES naming nothing', () => {
  it('says which named manifest does not exist (the loader reads no other)', () => {
    const none = join(mkdtempSync(join(tmpdir(), 'unir-vk-')), 'none.json');
    const hint = providerHint('webgpu', 'Failed to get a WebGPU adapter: No supported adapters', probeHost({ VK_DRIVER_FILES: none }));
    expect(hint).toContain(`VK_DRIVER_FILES names ${none}, which does not exist: the Vulkan loader reads only the driver manifests it names`);
  });
});

describe('probeHost', () => {
  it('finds the Vulkan loader on LD_LIBRARY_PATH and the ICD named by VK_DRIVER_FILES', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unir-vk-'));
    writeFileSync(join(dir, 'libvulkan.so.1'), '');
    writeFileSync(join(dir, 'nvidia_icd.json'), '{}');
    const p = probeHost({ LD_LIBRARY_PATH: dir, VK_DRIVER_FILES: join(dir, 'nvidia_icd.json') });
    expect(p.vulkanLoader).toBe(true);
    expect(p.vulkanIcd).toBe(true);
    expect(p.bindingDir).toMatch(/onnxruntime-node[/\\]bin[/\\]napi-v6/);
  });
});

describe('mayUseWebGpu: whether the server probes the WebGPU adapter at start', () => {
  it('only when the base or the modules can land on webgpu (--module-ep auto follows the base)', () => {
    expect(mayUseWebGpu('cpu', null)).toBe(false);
    expect(mayUseWebGpu('cpu', 'auto')).toBe(false);
    expect(mayUseWebGpu('cuda', 'auto')).toBe(false);
    expect(mayUseWebGpu('cpu', 'cpu')).toBe(false);
    expect(mayUseWebGpu('auto', null)).toBe(true);
    expect(mayUseWebGpu('webgpu', 'cpu')).toBe(true);
    expect(mayUseWebGpu('auto', 'auto')).toBe(true);
    expect(mayUseWebGpu('cpu', 'webgpu')).toBe(true);
  });
});

describe('sessionOptionsFor', () => {
  const s = { ep: 'auto' as const, deviceId: 2, threads: 3 };
  it('cuda takes the device index; webgpu takes none and keeps only the named outputs on the device', () => {
    expect(sessionOptionsFor('cuda', s, ['present.0.key']).executionProviders).toEqual([{ name: 'cuda', deviceId: 2 }]);
    expect(sessionOptionsFor('cuda', s, ['present.0.key']).preferredOutputLocation).toBeUndefined();
    const web = sessionOptionsFor('webgpu', { ...s, deviceId: 0 }, ['present.0.key', 'present.0.value']);
    expect(web.executionProviders).toEqual(['webgpu']);
    expect(web.preferredOutputLocation).toEqual({ 'present.0.key': 'gpu-buffer', 'present.0.value': 'gpu-buffer' });
    expect(sessionOptionsFor('cpu', s, ['present.0.key'])).toMatchObject({ executionProviders: ['cpu'], intraOpNumThreads: 3 });
  });
});
