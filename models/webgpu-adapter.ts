import { execFile, type ExecFileException } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Vulkan's VkPhysicalDeviceType, as Mesa's device-select layer prints it. */
export type AdapterType = 'discrete GPU' | 'integrated GPU' | 'virtual GPU' | 'CPU' | 'other' | 'unknown';

/**
 * The adapter the WebGPU provider of onnxruntime-node (Dawn over Vulkan) opens. Neither the binding nor ONNX
 * Runtime's log names it, so a child process creates a WebGPU session exactly as the server would and reads
 * what the Vulkan loader (VK_LOADER_DEBUG=driver: `Using "<device>" with driver: "<library>"`) and, where Mesa
 * is installed, its device-select layer (MESA_VK_DEVICE_SELECT=list: vendor:device ids and the device type)
 * say about it.
 */
export interface WebGpuAdapter {
  /** The Vulkan device name, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  device: string;
  /** The vendor's name, from the PCI / Khronos vendor id when known, else from the driver library. */
  vendor: string;
  vendorId: number | null;
  deviceId: number | null;
  type: AdapterType;
  /** The Vulkan driver library the loader opened, e.g. libvulkan_lvp.so (Mesa lavapipe) or libGLX_nvidia.so.0. */
  driver: string;
  /** A CPU implementation (lavapipe/llvmpipe, SwiftShader, or any adapter of type CPU): correct but slow. */
  software: boolean;
}

/**
 * `error`: ONNX Runtime's words when its session failed; with `probeFailed`, the probe itself failed (its child
 * crashed or hung, or nothing named the adapter) and `error` is a whole sentence saying so.
 */
export type AdapterProbe = { ok: true; adapter: WebGpuAdapter } | { ok: false; error: string; probeFailed?: true };

/** Khronos and PCI vendor ids of the vendors whose Vulkan drivers run compute. */
const VENDORS: Record<number, string> = {
  0x10de: 'NVIDIA',
  0x1002: 'AMD',
  0x1022: 'AMD',
  0x8086: 'Intel',
  0x10005: 'Mesa',
  0x1ae0: 'Google',
  0x13b5: 'ARM',
  0x5143: 'Qualcomm',
  0x106b: 'Apple',
  0x1010: 'Imagination',
};

/** Driver libraries by what they are, for hosts without Mesa's layer (the NVIDIA driver ships none). */
const DRIVERS: { pattern: RegExp; vendor: string; software: boolean }[] = [
  { pattern: /vulkan_lvp/, vendor: 'Mesa (lavapipe)', software: true },
  { pattern: /swiftshader/i, vendor: 'Google (SwiftShader)', software: true },
  { pattern: /nvidia/i, vendor: 'NVIDIA', software: false },
  { pattern: /vulkan_radeon|amdvlk/, vendor: 'AMD', software: false },
  { pattern: /vulkan_intel/, vendor: 'Intel', software: false },
];

const SOFTWARE_NAME = /llvmpipe|lavapipe|swiftshader|softpipe/i;

/** `Using "<device>" with driver: "<library>"`: the device the loader created for the application (Dawn). */
export function parseLoaderLog(text: string): { device: string; driver: string } | null {
  const m = /Using "([^"]+)" with driver: "([^"]+)"/.exec(text);
  return m ? { device: m[1], driver: m[2] } : null;
}

/** Mesa's device-select layer: `  GPU 0: 10005:0 "llvmpipe (LLVM 15.0.6, 256 bits)" CPU` (ids in hex). */
export function parseDeviceSelectList(text: string): { device: string; vendorId: number; deviceId: number; type: AdapterType }[] {
  const out = [];
  for (const m of text.matchAll(/GPU \d+: ([0-9a-f]+):([0-9a-f]+) "([^"]+)" (discrete GPU|integrated GPU|virtual GPU|CPU|other)/gi)) {
    out.push({ vendorId: parseInt(m[1], 16), deviceId: parseInt(m[2], 16), device: m[3], type: m[4] as AdapterType });
  }
  return out;
}

/** Puts the two reports together; `icdLibraries` (from the ICD manifests) stands in when the loader said nothing. */
export function describeAdapter(loaderLog: string, deviceList: string, icdLibraries: readonly string[] = []): WebGpuAdapter | null {
  const used = parseLoaderLog(loaderLog);
  const listed = parseDeviceSelectList(deviceList);
  // Without the loader's line, a host whose only driver manifest is one device's can still be named.
  const only = listed.length === 1 ? listed[0] : null;
  const device = used?.device ?? only?.device ?? null;
  const driver = used?.driver ?? (icdLibraries.length === 1 ? icdLibraries[0] : null);
  if (device === null && driver === null) return null;
  const ids = listed.find((d) => d.device === device) ?? null;
  const known = driver ? DRIVERS.find((d) => d.pattern.test(driver)) : undefined;
  const type: AdapterType = ids?.type ?? (known?.software ? 'CPU' : 'unknown');
  return {
    device: device ?? 'unknown',
    vendor: (ids && VENDORS[ids.vendorId]) ?? known?.vendor ?? 'unknown',
    vendorId: ids?.vendorId ?? null,
    deviceId: ids?.deviceId ?? null,
    type,
    driver: driver ?? 'unknown',
    software: type === 'CPU' || SOFTWARE_NAME.test(device ?? '') || (known?.software ?? false),
  };
}

/** "llvmpipe (LLVM 15.0.6, 256 bits), vendor Mesa (0x10005), device 0x0, type CPU, driver libvulkan_lvp.so" */
export function adapterLabel(a: WebGpuAdapter): string {
  const hex = (n: number | null) => (n === null ? '' : ` (0x${n.toString(16)})`);
  return `${a.device}, vendor ${a.vendor}${hex(a.vendorId)}, device id ${a.deviceId === null ? 'unknown' : `0x${a.deviceId.toString(16)}`}, type ${a.type}, driver ${a.driver}`;
}

/** Vulkan driver libraries named by the ICD manifests the loader would read (VK_DRIVER_FILES, else the standard dirs). */
export function icdLibraries(env: NodeJS.ProcessEnv = process.env): string[] {
  const named = (env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES ?? '').split(delimiter).filter(Boolean);
  const dirs = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];
  const files = named.length > 0 ? named : dirs.filter(existsSync).flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => join(d, f)));
  const libs: string[] = [];
  for (const f of files) {
    try {
      const lib = JSON.parse(readFileSync(f, 'utf8'))?.ICD?.library_path;
      if (typeof lib === 'string') libs.push(lib.split('/').pop()!);
    } catch {
      // not a manifest the loader could read either
    }
  }
  return libs;
}

/**
 * Creates a WebGPU session in a child process (on a one-node graph) with the loader's and Mesa's reports turned
 * on, and names the adapter. Slow adapters make this take a second or two; it runs once per process. A driver
 * that crashes or hangs takes the child down (killed after `timeoutMs`), never the server: the failure says which.
 */
export async function probeWebGpuAdapter(graph: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<AdapterProbe> {
  const ort = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-node')).href;
  const script =
    `const { default: ort } = await import(${JSON.stringify(ort)});` +
    `try { const s = await ort.InferenceSession.create(process.argv[1], { executionProviders: ['webgpu'], logSeverityLevel: 3 });` +
    `await s.release(); process.stdout.write('session-ok'); } catch (e) { process.stdout.write('session-error:' + e.message); }`;
  const run = (extra: NodeJS.ProcessEnv) =>
    new Promise<{ stdout: string; stderr: string; ortError: string | null; childFailure: string | null }>((resolve) => {
      const options = { env: { ...env, ...extra }, timeout: timeoutMs, killSignal: 'SIGKILL' as const, maxBuffer: 16 << 20 };
      execFile(process.execPath, ['--input-type=module', '-e', script, graph], options, (err, stdout, stderr) => {
        const ortError = stdout.startsWith('session-error:') ? stdout.slice('session-error:'.length) : null;
        resolve({ stdout, stderr, ortError, childFailure: ortError === null && stdout !== 'session-ok' ? probeProcessFailure(err, stderr, timeoutMs) : null });
      });
    });
  // MESA_VK_DEVICE_SELECT=list makes Mesa's layer print the devices and end the process before any device exists.
  const [session, list] = await Promise.all([run({ VK_LOADER_DEBUG: 'driver' }), run({ MESA_VK_DEVICE_SELECT: 'list' })]);
  if (session.ortError !== null) return { ok: false, error: session.ortError.trim() };
  if (session.childFailure !== null) return { ok: false, error: session.childFailure, probeFailed: true };
  const adapter = describeAdapter(session.stderr, list.stderr, icdLibraries(env));
  if (!adapter) return { ok: false, error: 'a WebGPU session started but neither the Vulkan loader nor the ICD manifests named its adapter', probeFailed: true };
  return { ok: true, adapter };
}

/** Why the probe's child ended without answering: killed after the timeout, killed by a signal, or an exit code. */
function probeProcessFailure(err: ExecFileException | null, stderr: string, timeoutMs: number): string {
  const probe = 'the WebGPU adapter probe (a child process that creates a WebGPU session on a one-node graph)';
  if (err?.killed) return `${probe} did not finish within ${timeoutMs / 1000} s and was killed: the Vulkan driver or the GPU hangs`;
  if (err?.signal) return `${probe} was killed by ${err.signal}: the Vulkan driver crashed it`;
  const error = stderr.split('\n').find((l) => /Error/.test(l));
  return `${probe} exited with code ${err?.code ?? 0} without an answer${error ? ` (${error.trim().slice(0, 300)})` : ''}`;
}
