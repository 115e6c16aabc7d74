import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { probeHost } from '../../models/execution-provider.js';
import { PROVIDERS } from '../helpers/providers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = 'tests/fixtures/tiny-mha-f32';
const noCuda = !probeHost().cudaProviderInstalled;
/** What this host's WebGPU provider opens (null: none); the tests below follow it instead of assuming. */
const hostAdapter = PROVIDERS.find((p) => p.ep === 'webgpu')?.adapter ?? null;
/** Points the Vulkan loader at a manifest that does not exist: no driver, so no adapter, whatever the host has. */
const NO_VULKAN_DRIVER = { VK_DRIVER_FILES: join(mkdtempSync(join(tmpdir(), 'unir-novk-')), 'none.json') };

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The real CLI from the repository root, as a person starts it. With `untilReady`, it is stopped with SIGTERM
 * once its 'ready' log line appears (the server would otherwise run on).
 */
function cli(args: string[], untilReady = false, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', '--model', MODEL, '--port', '0', '--threads', '1', ...args], {
      cwd: ROOT,
      env: { ...process.env, UNIR_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let stopping = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the CLI did not finish in ${timeoutMs} ms: ${stdout}\n${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (untilReady && !stopping && /"msg":"ready"/.test(stdout)) {
        stopping = true; // one signal: a second one makes the CLI exit at once with 1
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function logLines(stdout: string): any[] {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

describe('unir-serve --ep at startup', () => {
  it.skipIf(!noCuda)('--ep cuda without the CUDA provider: exits 1 and says how to install it', async () => {
    const { code, stderr, stdout } = await cli(['--ep', 'cuda']);
    expect(code).toBe(1);
    expect(stderr).toContain('unir-serve: the execution provider could not start: cuda:');
    expect(stderr).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci');
    // The structured log says it too, with the error code, and the server never reported ready.
    const fatal = logLines(stdout).find((l) => l.level === 60);
    expect(fatal.code).toBe('provider_unavailable');
    expect(fatal.msg).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci');
    expect(stdout).not.toContain('"msg":"ready"');
  });

  it('--ep webgpu without a Vulkan driver: exits 1 naming the Vulkan loader and the NVIDIA driver', async () => {
    const { code, stderr } = await cli(['--ep', 'webgpu'], false, NO_VULKAN_DRIVER);
    expect(code).toBe(1);
    expect(stderr).toContain('unir-serve: the execution provider could not start: webgpu:');
    expect(stderr).toContain('Vulkan loader');
    expect(stderr).toContain('NVIDIA driver');
  });

  it('--ep webgpu --device-id 1: exits 1, the binding cannot choose a GPU by index', async () => {
    const { code, stderr } = await cli(['--ep', 'webgpu', '--device-id', '1']);
    expect(code).toBe(1);
    expect(stderr).toContain('NVIDIA_VISIBLE_DEVICES');
  });

  it.skipIf(!noCuda)('--ep auto without a Vulkan driver: serves on cpu and logs which providers it skipped and why', async () => {
    const { code, stdout } = await cli(['--ep', 'auto'], true, NO_VULKAN_DRIVER);
    expect(code).toBe(0);
    const lines = logLines(stdout);
    const note = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('--ep auto chose'));
    expect(note).toBeDefined();
    expect(note.ep).toBe('cpu');
    expect(note.msg).toMatch(/^--ep auto chose cpu; skipped cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci.*; webgpu: .*Vulkan loader/);
    expect(lines.find((l) => l.msg === 'ready')).toMatchObject({ ep: 'cpu', adapter: null });
  });

  // This host's own adapter: a software one (lavapipe in CI) is passed over by auto and warned about when named.
  describe.skipIf(hostAdapter === null || !noCuda)(`this host's WebGPU adapter (${hostAdapter?.device ?? 'none'}, ${hostAdapter?.type ?? ''})`, () => {
    const a = hostAdapter!;
    it(a?.software ? '--ep auto: chooses cpu and says it passed over the software adapter, naming it' : '--ep auto: chooses webgpu and names the adapter', async () => {
      const { code, stdout } = await cli(['--ep', 'auto'], true);
      expect(code).toBe(0);
      const lines = logLines(stdout);
      const ready = lines.find((l) => l.msg === 'ready');
      if (a.software) {
        const note = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('--ep auto chose'));
        expect(note.msg).toContain(`webgpu: the WebGPU adapter is a software renderer (${a.device}, vendor ${a.vendor}`);
        expect(note.msg).toContain('--allow-software-adapter');
        expect(ready).toMatchObject({ ep: 'cpu', adapter: null });
      } else {
        expect(ready).toMatchObject({ ep: 'webgpu', adapter: { device: a.device, vendor: a.vendor, type: a.type, driver: a.driver } });
      }
    });

    it('--ep webgpu: starts; the ready line names the adapter (vendor, device, type, driver); a software one is warned about', async () => {
      const { code, stdout } = await cli(['--ep', 'webgpu'], true);
      expect(code).toBe(0);
      const lines = logLines(stdout);
      expect(lines.find((l) => l.msg === 'ready')).toMatchObject({ ep: 'webgpu', adapter: { device: a.device, vendor: a.vendor, type: a.type, driver: a.driver, software: a.software } });
      const warning = lines.find((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.includes('software renderer'));
      if (a.software) expect(warning.msg).toContain(a.device);
      else expect(warning).toBeUndefined();
    });

    it.runIf(a?.software)('--ep auto --allow-software-adapter: chooses webgpu on it, with the warning', async () => {
      const { code, stdout } = await cli(['--ep', 'auto', '--allow-software-adapter'], true);
      expect(code).toBe(0);
      const lines = logLines(stdout);
      expect(lines.find((l) => l.msg === 'ready')).toMatchObject({ ep: 'webgpu', adapter: { device: a.device, software: true } });
      const warning = lines.find((l) => l.level === 40 && String(l.msg).includes(a.device));
      // The flag was given: the warning says it let auto choose the adapter, not that auto passes over it.
      expect(warning.msg).toContain('--allow-software-adapter lets --ep auto choose it');
      expect(warning.msg).not.toContain('passes over it');
    });
  });

  it('--fusion-site device on the CPU: exits 1 saying it needs the base on WebGPU', async () => {
    const { code, stderr } = await cli(['--ep', 'cpu', '--fusion-site', 'device']);
    expect(code).toBe(1);
    expect(stderr).toContain('--fusion-site device keeps the logits on a WebGPU device; the base runs on cpu');
    const bad = await cli(['--fusion-site', 'gpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--fusion-site: expected host or device');
  });

  it('--ep with an unknown provider: exits 2 listing the choices', async () => {
    const { code, stderr } = await cli(['--ep', 'tpu']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--ep: expected one of auto, cuda, webgpu, cpu/);
  });
});
