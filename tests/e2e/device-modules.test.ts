import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnCli, type CliChild } from '../../scripts/cli-child.js';
import { describeEachProvider, GPU_PROVIDERS } from '../helpers/providers.js';
import { postJson } from '../helpers/server.js';

/**
 * Reasoning modules on a GPU provider, with the real CLI as a child process (an abort is an exit we can see). The
 * demo with both modules on WebGPU used to abort the process at the first module request (`--ep webgpu`, then
 * `unir-demo+add`), and `--ep cpu --module-ep webgpu` with two modules segfaulted: every session of the device
 * is now driven from one thread (docs/gpu.md).
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEMO = ['--model', 'demo-models/base', '--served-model-name', 'unir-demo', '--reasoners-dir', 'demo-models/reasoners'];

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Server {
  cli: CliChild;
  url: string;
  complete(model: string, prompt: string, maxTokens?: number): Promise<string>;
  /** SIGTERM: drains and exits 0; anything else (a signal such as SIGSEGV or SIGABRT) fails. */
  stop(): Promise<void>;
}

async function start(args: string[]): Promise<Server> {
  const cli = spawnCli(['--import', 'tsx', 'server/cli.ts', ...DEMO, '--port', '0', '--threads', '1', '--max-queue', '256', ...args], { cwd: ROOT });
  children.push(cli.proc);
  const url = await cli.listening;
  // Its 'ready' log line (after /ready turns 200) carries the provider, the adapter and where modules run.
  for (let i = 0; !cli.logs.some((l) => l.msg === 'ready'); i++) {
    if (i > 1200 || cli.proc.exitCode !== null) throw new Error(`not ready: ${JSON.stringify(cli.logs.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect((await fetch(`${url}/ready`)).status).toBe(200);
  const complete = async (model: string, prompt: string, maxTokens = 64) => {
    const res = await postJson(`${url}/v1/completions`, { model, prompt, max_tokens: maxTokens, temperature: 0 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.choices[0].text as string;
  };
  const stop = async () => {
    expect(cli.proc.exitCode, 'the server process ended on its own').toBeNull();
    cli.proc.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  };
  return { cli, url, complete, stop };
}

const PROMPTS: [string, string][] = [
  ['unir-demo+add', 'add 4821+937='],
  ['unir-demo+add+sort', 'sort 5 3 9 1 7='],
  ['unir-demo+add+sort', 'add 12+34='],
  ['unir-demo+sort', 'sort 8 2 6 4='],
];

let cpuTexts: string[] | null = null;
/** The CPU's greedy text for PROMPTS (the reference the GPU runs must equal), computed once. */
async function cpuReference(): Promise<string[]> {
  if (cpuTexts) return cpuTexts;
  const cpu = await start(['--ep', 'cpu']);
  cpuTexts = [];
  for (const [model, prompt] of PROMPTS) cpuTexts.push(await cpu.complete(model, prompt));
  await cpu.stop();
  expect(cpuTexts[0]).toBe(' 1+7+0=8, 2+3+0=5, 8+9+0=17, 4+0+1=5, answer=5758');
  return cpuTexts;
}

describeEachProvider(
  'reasoning modules on a GPU provider',
  ({ ep, adapter }) => {
    it(`--ep ${ep} with both demo modules: the request that aborted the process, greedy text equal to the CPU's, concurrent = one by one, 200 concurrent requests, clean exit`, async () => {
      const expected = await cpuReference();
      const gpu = await start(['--ep', ep]);
      const ready = gpu.cli.logs.find((l) => l.msg === 'ready')!;
      expect(ready).toMatchObject({ ep, moduleEp: ep, modulePlacement: ep === 'webgpu' ? 'engine-thread' : 'own-worker' });
      const oneByOne: string[] = [];
      for (const [model, prompt] of PROMPTS) oneByOne.push(await gpu.complete(model, prompt));
      expect(oneByOne).toEqual(expected);
      // Two of each at once: the batch changes, the cache is laid out again on the device.
      const concurrent = await Promise.all([...PROMPTS, ...PROMPTS].map(([model, prompt]) => gpu.complete(model, prompt)));
      expect(concurrent).toEqual([...expected, ...expected]);
      // 200 concurrent module requests (short ones: a software GPU is slow): every one answered, nobody cut off.
      const many = await Promise.all(
        Array.from({ length: 200 }, (_, i) => gpu.complete(PROMPTS[i % PROMPTS.length][0], PROMPTS[i % PROMPTS.length][1], 4)),
      );
      many.forEach((text, i) => expect(text).toBe(expected[i % PROMPTS.length].slice(0, text.length)));
      expect((await fetch(`${gpu.url}/health`)).status).toBe(200);
      await gpu.stop();
    }, 600_000);

    it(`--ep cpu --module-ep ${ep}: both modules on the device's one shared worker, greedy text equal to the CPU's`, async () => {
      const expected = await cpuReference();
      const mixed = await start(['--ep', 'cpu', '--module-ep', ep]);
      // The ready line names the WebGPU adapter whenever sessions run on it, the modules' alone included.
      expect(mixed.cli.logs.find((l) => l.msg === 'ready')).toMatchObject({
        ep: 'cpu',
        moduleEp: ep,
        modulePlacement: ep === 'webgpu' ? 'device-worker' : 'own-worker',
        adapter: adapter ? { device: adapter.device, vendor: adapter.vendor, type: adapter.type, driver: adapter.driver } : null,
      });
      const oneByOne: string[] = [];
      for (const [model, prompt] of PROMPTS) oneByOne.push(await mixed.complete(model, prompt));
      expect(oneByOne).toEqual(expected);
      const concurrent = await Promise.all(PROMPTS.map(([model, prompt]) => mixed.complete(model, prompt)));
      expect(concurrent).toEqual(expected);
      await mixed.stop();
    }, 600_000);
  },
  GPU_PROVIDERS,
);

describe('the CPU keeps a worker per module', () => {
  it('--ep cpu: modules run in workers of their own, beside the base', async () => {
    const cpu = await start(['--ep', 'cpu']);
    expect(cpu.cli.logs.find((l) => l.msg === 'ready')).toMatchObject({ ep: 'cpu', moduleEp: 'cpu', modulePlacement: 'own-worker', adapter: null });
    await cpu.stop();
  });
});
