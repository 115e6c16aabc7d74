import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { contentHash } from '../../adapters/content-hash.js';
import type { RunningServer } from '../../server/start.js';
import { FIXTURES, REASONERS, references } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const MODEL = 'tiny-mha-f32';
let root: string;
let server: RunningServer;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'unir-watch-'));
  cpSync(join(REASONERS, 'r1'), join(root, 'r1'), { recursive: true });
  server = await startTestServer(['--reasoners-dir', root, '--watch']);
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

const list = async (): Promise<Json[]> => ((await (await fetch(`${server.url}/v1/reasoners`)).json()) as Json).data;
const entry = async (name: string) => (await list()).find((i) => i.name === name);
async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const greedy = (reasoner: string, refKey: string) => {
  const ref = references.fused[refKey][1];
  return postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: ref.prompt_ids, max_tokens: 8, temperature: 0, ignore_eos: true, reasoners: [{ name: reasoner }] }).then((res) => ({ res, ref }));
};

/** The token ids a real `ws` client receives for one generation. */
async function wsTokens(body: Json): Promise<number[]> {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/v1/stream`);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  const ids: number[] = [];
  const done = new Promise<Json>((resolve) =>
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Json;
      if (m.type === 'token') ids.push(m.token_id);
      else resolve(m);
    }),
  );
  ws.send(JSON.stringify({ type: 'generate', id: 1, ...body }));
  expect((await done).type).toBe('done');
  ws.close();
  return ids;
}

describe('--watch on the modules root', () => {
  it('loads a new module directory; requests can use it over HTTP and WebSocket', async () => {
    expect((await list()).map((i) => i.name)).toEqual(['r1']);
    cpSync(join(REASONERS, 'r2'), join(root, 'r2'), { recursive: true });
    await eventually(async () => (await entry('r2'))?.state === 'ready');
    const { res, ref } = await greedy('r2', 'r2');
    expect(res.body.choices[0].text).toBe(ref.greedy_text);
    expect(await wsTokens({ prompt: ref.prompt_ids, max_tokens: 8, temperature: 0, ignore_eos: true, reasoners: [{ name: 'r2' }] })).toEqual(ref.greedy_ids);
  });

  it('replaces a changed module: new requests get the new version', async () => {
    expect((await greedy('r1', 'r1')).res.body.choices[0].text).toBe(references.fused.r1[1].greedy_text);
    cpSync(join(FIXTURES, 'reasoners-alt', 'r1'), join(root, 'r1'), { recursive: true, force: true });
    await eventually(async () => (await entry('r1'))?.version === '2.0.0');
    const { res, ref } = await greedy('r1', 'r1-alt');
    expect(res.body.choices[0].text).toBe(ref.greedy_text);
    await eventually(async () => (await list()).filter((i) => i.name === 'r1').length === 1);
  });

  it('does not load a directory that is still being copied (manifest first, model in slow chunks)', async () => {
    const dir = join(root, 'slow');
    mkdirSync(dir);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) cpSync(join(REASONERS, 'r2', f), join(dir, f));
    writeFileSync(join(dir, 'unir.json'), JSON.stringify({ name: 'slow', version: '1.0.0' }));
    const model = readFileSync(join(REASONERS, 'r2', 'model.onnx'));
    const chunks = 4;
    for (let i = 0; i < chunks; i++) {
      appendFileSync(join(dir, 'model.onnx'), model.subarray((i * model.length) / chunks, ((i + 1) * model.length) / chunks));
      // Pauses longer than the 500 ms debounce: the stability check (two looks 500 ms apart) holds the load back.
      await new Promise((r) => setTimeout(r, 600));
      expect(await entry('slow')).toBeUndefined();
    }
    await eventually(async () => (await entry('slow'))?.state === 'ready');
    expect((await greedy('slow', 'r2')).res.body.choices[0].text).toBe(references.fused.r2[1].greedy_text);
  });

  it('shows a module that fails to load in GET /v1/reasoners and keeps serving; loads it once fixed', async () => {
    const dir = join(root, 'broken');
    cpSync(join(REASONERS, 'r2'), dir, { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), Buffer.alloc(2048, 1));
    writeFileSync(join(dir, 'unir.json'), JSON.stringify({ name: 'broken' }));
    await eventually(async () => (await entry('broken'))?.state === 'failed');
    expect((await entry('broken'))!.error).toMatch(/ONNX Runtime/);
    expect((await greedy('r2', 'r2')).res.status).toBe(200);
    cpSync(join(REASONERS, 'r2', 'model.onnx'), join(dir, 'model.onnx'));
    await eventually(async () => (await entry('broken'))?.state === 'ready');
    expect((await list()).filter((i) => i.name === 'broken')).toHaveLength(1);
  });

  it('shared mode: the admin API refuses loads and unloads with 409 modules_root_watched; content_hash names the bytes', async () => {
    const load = await postJson(`${server.url}/v1/reasoners`, { path: 'r2', replace: true });
    expect(load.status).toBe(409);
    expect(load.body.error).toMatchObject({ code: 'modules_root_watched', type: 'conflict_error' });
    expect(load.body.error.message).toMatch(/Copy the module directory into the modules root/);
    const del = await fetch(`${server.url}/v1/reasoners/r2`, { method: 'DELETE' });
    expect(del.status).toBe(409);
    expect((await entry('r2'))?.state).toBe('ready');
    expect((await entry('r2'))!.content_hash).toBe(await contentHash(join(root, 'r2')));
    expect((await entry('r1'))!.content_hash).toBe(await contentHash(join(root, 'r1')));
    expect((await entry('r1'))!.content_hash).not.toBe((await entry('r2'))!.content_hash);
  });

  it('unloads a removed module: requests naming it get 404', async () => {
    rmSync(join(root, 'r2'), { recursive: true });
    await eventually(async () => (await entry('r2')) === undefined);
    const { res } = await greedy('r2', 'r2');
    expect(res.status).toBe(404);
    expect(res.body.error.message).toMatch(/no reasoning module named r2/);
    expect((await list()).map((i) => i.name).sort()).toEqual(['broken', 'r1', 'slow']);
  });
});
