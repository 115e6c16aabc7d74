import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphPath } from '../../../models/kv-gather-graph.js';
import { adapterLabel, describeAdapter, icdLibraries, parseDeviceSelectList, parseLoaderLog, probeWebGpuAdapter } from '../../../models/webgpu-adapter.js';
import { PROVIDERS } from '../../helpers/providers.js';

// The lines the Vulkan loader (VK_LOADER_DEBUG=driver) and Mesa's device-select layer (MESA_VK_DEVICE_SELECT=list)
// write, as seen with bookworm's loader 1.3.239 and Mesa 25 here, and in their formats for an NVIDIA host.
const LAVAPIPE_LOADER = [
  'INFO | DRIVER:    linux_read_sorted_physical_devices:',
  'INFO | DRIVER:               [0] llvmpipe (LLVM 15.0.6, 256 bits)',
  'DRIVER | LAYER:          Using "llvmpipe (LLVM 15.0.6, 256 bits)" with driver: "libvulkan_lvp.so"',
].join('\n');
const LAVAPIPE_LIST = 'selectable devices:\n  GPU 0: 10005:0 "llvmpipe (LLVM 15.0.6, 256 bits)" CPU\n';
const NVIDIA_LOADER = 'DRIVER | LAYER:          Using "NVIDIA H100 80GB HBM3" with driver: "libGLX_nvidia.so.0"';
const MIXED_LIST = 'selectable devices:\n  GPU 0: 10de:2330 "NVIDIA H100 80GB HBM3" discrete GPU\n  GPU 1: 10005:0 "llvmpipe (LLVM 19.1.7, 256 bits)" CPU\n';

describe('reading the loader and Mesa reports', () => {
  it('the loader names the device it created and its driver library', () => {
    expect(parseLoaderLog(LAVAPIPE_LOADER)).toEqual({ device: 'llvmpipe (LLVM 15.0.6, 256 bits)', driver: 'libvulkan_lvp.so' });
    expect(parseLoaderLog('nothing here')).toBeNull();
  });

  it("Mesa's list gives vendor and device ids (hex) and the device type", () => {
    expect(parseDeviceSelectList(MIXED_LIST)).toEqual([
      { device: 'NVIDIA H100 80GB HBM3', vendorId: 0x10de, deviceId: 0x2330, type: 'discrete GPU' },
      { device: 'llvmpipe (LLVM 19.1.7, 256 bits)', vendorId: 0x10005, deviceId: 0, type: 'CPU' },
    ]);
  });

  it('lavapipe is a software adapter of type CPU, vendor Mesa', () => {
    const a = describeAdapter(LAVAPIPE_LOADER, LAVAPIPE_LIST)!;
    expect(a).toEqual({ device: 'llvmpipe (LLVM 15.0.6, 256 bits)', vendor: 'Mesa', vendorId: 0x10005, deviceId: 0, type: 'CPU', driver: 'libvulkan_lvp.so', software: true });
    expect(adapterLabel(a)).toBe('llvmpipe (LLVM 15.0.6, 256 bits), vendor Mesa (0x10005), device id 0x0, type CPU, driver libvulkan_lvp.so');
  });

  it('the device Dawn opened is the one described, when Mesa lists several', () => {
    expect(describeAdapter(NVIDIA_LOADER, MIXED_LIST)).toMatchObject({ device: 'NVIDIA H100 80GB HBM3', vendor: 'NVIDIA', type: 'discrete GPU', software: false });
  });

  it('without Mesa (an NVIDIA-only host) the driver library names the vendor; the type stays unknown', () => {
    expect(describeAdapter(NVIDIA_LOADER, '')).toEqual({ device: 'NVIDIA H100 80GB HBM3', vendor: 'NVIDIA', vendorId: null, deviceId: null, type: 'unknown', driver: 'libGLX_nvidia.so.0', software: false });
  });

  it('software by name or driver even without a type: SwiftShader, llvmpipe', () => {
    expect(describeAdapter('Using "SwiftShader Device (Subzero) (0x0000C0DE)" with driver: "libvk_swiftshader.so"', '')).toMatchObject({ software: true, type: 'CPU', vendor: 'Google (SwiftShader)' });
    expect(describeAdapter('Using "llvmpipe (LLVM 12.0.0, 256 bits)" with driver: "/opt/x/libvulkan_custom.so"', '')?.software).toBe(true);
  });

  it('with neither report, the only ICD manifest stands in for the driver', () => {
    expect(describeAdapter('', '', ['libvulkan_lvp.so'])).toMatchObject({ driver: 'libvulkan_lvp.so', software: true, device: 'unknown' });
    expect(describeAdapter('', '', ['libvulkan_lvp.so', 'libGLX_nvidia.so.0'])).toBeNull();
  });

  it('icdLibraries reads the manifests VK_DRIVER_FILES names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unir-icd-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: '/usr/lib/x/libGLX_nvidia.so.0', api_version: '1.3' } }));
    writeFileSync(join(dir, 'b.json'), 'not json');
    expect(icdLibraries({ VK_DRIVER_FILES: `${join(dir, 'a.json')}:${join(dir, 'b.json')}` })).toEqual(['libGLX_nvidia.so.0']);
  });
});

describe('probing this host', () => {
  const webgpu = PROVIDERS.find((p) => p.ep === 'webgpu')!;

  it('with no driver manifest the probe fails with ONNX Runtime\'s words, whatever the host has', async () => {
    const probe = await probeWebGpuAdapter(graphPath('kv_copy', 'float32'), { ...process.env, VK_DRIVER_FILES: join(tmpdir(), 'unir-none', 'none.json') });
    expect(probe).toMatchObject({ ok: false, error: expect.stringMatching(/WebGPU adapter|No supported adapters/) });
  });

  // A Vulkan driver that crashes or hangs while the loader opens it, played by a preload in the probe's child.
  const probeChild = (preload: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'unir-probe-')), 'driver.cjs');
    writeFileSync(file, preload);
    return { ...process.env, NODE_OPTIONS: `--require ${file}` };
  };

  it('a probe child that crashes: a failure naming the signal, the server process untouched', async () => {
    const probe = await probeWebGpuAdapter(graphPath('kv_copy', 'float32'), probeChild("process.kill(process.pid, 'SIGABRT');"));
    expect(probe).toEqual({ ok: false, probeFailed: true, error: expect.stringMatching(/^the WebGPU adapter probe \(.*\) was killed by SIGABRT: the Vulkan driver crashed it$/) });
  });

  it('a probe child that hangs (and ignores SIGTERM): killed after the timeout, a failure saying so', async () => {
    const hang = "process.on('SIGTERM', () => {}); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);";
    const probe = await probeWebGpuAdapter(graphPath('kv_copy', 'float32'), probeChild(hang), 2000);
    expect(probe).toEqual({ ok: false, probeFailed: true, error: expect.stringMatching(/^the WebGPU adapter probe \(.*\) did not finish within 2 s and was killed: the Vulkan driver or the GPU hangs$/) });
  });

  it.skipIf(webgpu.adapter === null)(`the adapter found agrees with the installed drivers (${webgpu.adapter?.device ?? 'none'})`, () => {
    const a = webgpu.adapter!;
    expect(a.device).not.toBe('unknown');
    expect(icdLibraries()).toContain(a.driver);
    expect(a.software).toBe(/lvp|swiftshader/.test(a.driver) || a.type === 'CPU');
  });
});
