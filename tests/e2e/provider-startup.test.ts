import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { probeHost } from '../../models/execution-provider.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = 'tests/fixtures/tiny-mha-f32';
const host = probeHost();
const noCuda = !host.cudaProviderInstalled;
const noVulkan = !(host.vulkanLoader && host.vulkanIcd);

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The real CLI from the repository root, as a person starts it. With `untilReady`, it is stopped with SIGTERM
 * once its 'ready' log line appears (the server would otherwise run on).
 */
function cli(args: string[], untilReady = false, timeoutMs = 30_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', '--model', MODEL, '--port', '0', '--threads', '1', ...args], {
      cwd: ROOT,
      env: { ...process.env, UNIR_LOG_LEVEL: 'info' },
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

describe('unir-serve --ep at startup', () => {
  it.skipIf(!noCuda)('--ep cuda without the CUDA provider: exits 1 and says how to install it', async () => {
    const { code, stderr, stdout } = await cli(['--ep', 'cuda']);
    expect(code).toBe(1);
    expect(stderr).toContain('unir-serve: the execution provider could not start: cuda:');
    expect(stderr).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install');
    // The structured log says it too, with the error code, and the server never reported ready.
    const fatal = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.level === 60);
    expect(fatal.code).toBe('provider_unavailable');
    expect(fatal.msg).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install');
    expect(stdout).not.toContain('"msg":"ready"');
  });

  it.skipIf(!noVulkan)('--ep webgpu without Vulkan: exits 1 naming the Vulkan loader and the NVIDIA driver', async () => {
    const { code, stderr } = await cli(['--ep', 'webgpu']);
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

  it.skipIf(!noCuda || !noVulkan)('--ep auto: serves on cpu and logs which providers it skipped and why', async () => {
    const { code, stdout } = await cli(['--ep', 'auto'], true);
    expect(code).toBe(0);
    const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const note = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('--ep auto chose'));
    expect(note).toBeDefined();
    expect(note.ep).toBe('cpu');
    expect(note.msg).toMatch(/^--ep auto chose cpu; skipped cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install.*; webgpu: .*Vulkan loader/);
    expect(lines.find((l) => l.msg === 'ready').ep).toBe('cpu');
  });

  it('--ep with an unknown provider: exits 2 listing the choices', async () => {
    const { code, stderr } = await cli(['--ep', 'tpu']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--ep: expected one of auto, cuda, webgpu, cpu/);
  });
});
