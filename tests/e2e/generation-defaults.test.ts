import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { MHA } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * generation_config.json's sampling fields are the defaults of requests that omit them (vLLM's
 * --generation-config auto); --generation-config none gives OpenAI's defaults; the ready log lists them.
 */
const QWEN3 = { temperature: 0.6, top_k: 20, top_p: 0.95, min_p: 0.05, repetition_penalty: 1.1 };
const OPENAI = { temperature: 1, top_k: -1, top_p: 1, min_p: 0, repetition_penalty: 1 };
const MODEL = 'qwen3-like';
let dir: string;
const servers: RunningServer[] = [];

beforeAll(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'unir-gencfg-')), MODEL);
  cpSync(MHA, dir, { recursive: true });
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [0, 2], do_sample: true, ...QWEN3, max_new_tokens: 999 }));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

async function start(args: string[]): Promise<{ server: RunningServer; ready: Record<string, unknown> }> {
  const logs: Record<string, unknown>[] = [];
  const server = await startTestServer(['--model', dir, ...args], { logs });
  servers.push(server);
  return { server, ready: logs.find((l) => l.msg === 'ready')! };
}

const text = async (server: RunningServer, extra: Record<string, unknown>) => {
  const res = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'once upon a time', max_tokens: 24, seed: 11, ignore_eos: true, ...extra });
  expect(res.status).toBe(200);
  return res.body.choices[0].text as string;
};

describe('--generation-config', () => {
  it('auto (the default): requests that omit sampling fields get the model\'s, and the ready log lists them', async () => {
    const { server, ready } = await start([]);
    expect(ready.generation_defaults).toEqual(QWEN3);
    expect(ready.generation_config).toBe(join(dir, 'generation_config.json'));
    const implicit = await text(server, {});
    expect(implicit).toBe(await text(server, QWEN3));
    expect(implicit).not.toBe(await text(server, OPENAI));
    // A field the request gives wins over the model's default.
    expect(await text(server, { temperature: 0 })).toBe(await text(server, { ...QWEN3, temperature: 0 }));
  });

  it('none: OpenAI\'s defaults, and the ready log says none are in force', async () => {
    const { server, ready } = await start(['--generation-config', 'none']);
    expect(ready.generation_defaults).toEqual({});
    expect(await text(server, {})).toBe(await text(server, OPENAI));
  });

  it('a directory: its generation_config.json', async () => {
    const other = mkdtempSync(join(tmpdir(), 'unir-gencfg-dir-'));
    writeFileSync(join(other, 'generation_config.json'), JSON.stringify({ temperature: 0.3 }));
    try {
      const { ready } = await start(['--generation-config', other]);
      expect(ready.generation_defaults).toEqual({ temperature: 0.3 });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
