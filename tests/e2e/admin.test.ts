import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken, isLoopback } from '../../server/admin-auth.js';
import type { RunningServer } from '../../server/start.js';
import { FIXTURES, REASONERS, references } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const MODEL = 'tiny-mha-f32';
const TOKEN = 'sekret-admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };
let root: string;
let outside: string;
let server: RunningServer;

/** A modules root in a temp dir: r1 loaded at start; other modules staged under staging/ (not loaded at start). */
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'unir-admin-'));
  outside = mkdtempSync(join(tmpdir(), 'unir-outside-'));
  cpSync(join(REASONERS, 'r1'), join(root, 'r1'), { recursive: true });
  cpSync(join(REASONERS, 'r2'), join(root, 'staging', 'r2'), { recursive: true });
  cpSync(join(FIXTURES, 'reasoners-alt', 'r1'), join(root, 'staging', 'r1-v2'), { recursive: true });
  cpSync(join(FIXTURES, 'incompatible', 'bad-tokenizer'), join(root, 'staging', 'bad-tokenizer'), { recursive: true });
  cpSync(join(REASONERS, 'r2'), join(root, 'staging', 'corrupt'), { recursive: true });
  writeFileSync(join(root, 'staging', 'corrupt', 'model.onnx'), Buffer.alloc(4096, 0x5a));
  writeFileSync(join(root, 'staging', 'corrupt', 'unir.json'), JSON.stringify({ name: 'corrupt', version: '0.1.0' }));
  cpSync(join(REASONERS, 'r2'), join(root, 'staging', 'no-model'), { recursive: true });
  rmSync(join(root, 'staging', 'no-model', 'model.onnx'));
  writeFileSync(join(root, 'staging', 'no-model', 'unir.json'), JSON.stringify({ name: 'no-model' }));
  mkdirSync(join(root, 'staging', 'no-manifest'));
  cpSync(join(REASONERS, 'r2'), join(outside, 'r2'), { recursive: true });
  symlinkSync(join(outside, 'r2'), join(root, 'staging', 'link-out'));
  server = await startTestServer(['--reasoners-dir', root, '--admin-token', TOKEN]);
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const load = (body: unknown, headers: Record<string, string> = auth) => postJson(`${server.url}/v1/reasoners`, body, headers);
const unload = async (name: string, headers: Record<string, string> = auth) => {
  const res = await fetch(`${server.url}/v1/reasoners/${name}`, { method: 'DELETE', headers });
  return { status: res.status, body: (await res.json()) as Json };
};
const list = async (): Promise<Json[]> => ((await (await fetch(`${server.url}/v1/reasoners`)).json()) as Json).data;
const greedy = async (reasoner: string, refKey: string) => {
  const ref = references.fused[refKey][0];
  const res = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: ref.prompt_ids, max_tokens: 8, temperature: 0, ignore_eos: true, reasoners: [{ name: reasoner }] });
  return { res, ref };
};

describe('admin API: auth with --admin-token', () => {
  it('401 without a token or with a wrong one, in OpenAI\'s shape; GET /v1/reasoners stays public', async () => {
    const none = await load({ path: 'staging/r2' }, {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(none.body.error).toMatchObject({ type: 'authentication_error', code: 'unauthorized', message: expect.stringMatching(/Bearer/) });
    expect((await load({ path: 'staging/r2' }, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await load({ path: 'staging/r2' }, { authorization: TOKEN })).status).toBe(401);
    expect((await unload('r1', { authorization: `Bearer ${TOKEN}x` })).status).toBe(401);
    const pub = await fetch(`${server.url}/v1/reasoners`);
    expect(pub.status).toBe(200);
    expect((await list()).map((i) => i.name)).toEqual(['r1']);
  });

  it('bearer parsing and loopback addresses', () => {
    expect(bearerToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`bearer   ${TOKEN} `)).toBe(TOKEN);
    expect(bearerToken(`Basic ${TOKEN}`)).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['10.0.0.1', '192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', '128.0.0.1', '1127.0.0.1', undefined]) expect(isLoopback(a)).toBe(false);
  });
});

describe('admin API: load, replace, unload', () => {
  it('POST loads a module (201) that requests can use at once, with the fields GET lists', async () => {
    const res = await load({ path: 'staging/r2' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ object: 'reasoner', name: 'r2', version: '1.0.0', state: 'ready', in_flight: 0, replaced: false, path: 'staging/r2' });
    expect(res.body.size_bytes).toBeGreaterThan(100_000);
    expect(res.body.load_ms).toBeGreaterThanOrEqual(0);
    const { res: out, ref } = await greedy('r2', 'r2');
    expect(out.status).toBe(200);
    expect(out.body.usage.completion_tokens).toBe(8);
    expect(out.body.choices[0].text).toBe(ref.greedy_text);
    const r2 = (await list()).find((i) => i.name === 'r2')!;
    for (const field of ['name', 'version', 'default_weight', 'state', 'in_flight', 'loaded_at', 'load_ms', 'size_bytes']) expect(r2).toHaveProperty(field);
  });

  it('409 when the name exists and replace is not set; a name and a weight can be given', async () => {
    const again = await load({ path: 'staging/r2' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'reasoner_exists', type: 'conflict_error', message: expect.stringMatching(/replace/) });
    const named = await load({ path: 'r1', name: 'r1-copy', default_weight: 0.5 });
    expect(named.status).toBe(201);
    expect(named.body).toMatchObject({ name: 'r1-copy', default_weight: 0.5 });
    expect((await unload('r1-copy')).status).toBe(200);
  });

  it('replace: new requests get the new version (its reference output differs)', async () => {
    expect((await greedy('r1', 'r1')).res.body.choices[0].text).toBe(references.fused.r1[0].greedy_text);
    const res = await load({ path: 'staging/r1-v2', replace: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'r1', version: '2.0.0', replaced: true });
    const { res: out, ref } = await greedy('r1', 'r1-alt');
    expect(out.body.choices[0].text).toBe(ref.greedy_text);
    expect(ref.greedy_text).not.toBe(references.fused.r1[0].greedy_text);
    // The old version had nothing in flight: released at once.
    expect((await list()).filter((i) => i.name === 'r1').map((i) => [i.version, i.state])).toEqual([['2.0.0', 'ready']]);
  });

  it('DELETE unloads: new requests naming it get 404 with a clear message; 404 for an unknown name', async () => {
    const res = await unload('r2');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'reasoner', name: 'r2', deleted: true });
    const { res: after } = await greedy('r2', 'r2');
    expect(after.status).toBe(404);
    expect(after.body.error).toMatchObject({ code: 'reasoner_not_found', type: 'not_found_error', param: 'reasoners' });
    expect(after.body.error.message).toMatch(/no reasoning module named r2 is loaded/);
    expect((await list()).some((i) => i.name === 'r2')).toBe(false);
    const unknown = await unload('r2');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('reasoner_not_found');
  });

  it('400 for a bad body: unknown field, bad name, missing path', async () => {
    expect((await load({ path: 'staging/r2', replcae: true })).status).toBe(400);
    const badName = await load({ path: 'staging/r2', name: 'a+b' });
    expect(badName.status).toBe(400);
    expect(badName.body.error.param).toBe('name');
    expect((await load({})).body.error.param).toBe('path');
  });
});

describe('admin API: paths stay inside --reasoners-dir', () => {
  it.each([
    ['..', '../x'],
    ['.. inside the path', 'staging/../../etc'],
    ['an absolute path elsewhere', '/etc'],
    ['a symbolic link out of the root', 'staging/link-out'],
  ])('refuses %s with path_outside_root (400)', async (_what, path) => {
    const res = await load({ path });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'path_outside_root', param: 'path' });
  });

  it('accepts an absolute path inside the root', async () => {
    const res = await load({ path: join(root, 'staging', 'r2'), name: 'r2-abs' });
    expect(res.status).toBe(201);
    expect((await unload('r2-abs')).status).toBe(200);
  });
});

describe('admin API: failed loads are 4xx with the reason; the server keeps serving', () => {
  it.each([
    ['a corrupt ONNX file', 'staging/corrupt', 'invalid_model_dir', /model\.onnx is not a readable ONNX file/],
    ['a missing model file', 'staging/no-model', 'invalid_model_dir', /no ONNX graph/],
    ['a missing manifest', 'staging/no-manifest', 'invalid_model_dir', /unir\.json/],
    ['a directory that does not exist', 'staging/nothing', 'invalid_model_dir', /does not exist/],
    ['an incompatible tokenizer', 'staging/bad-tokenizer', 'incompatible_reasoner', /tokenizers differ/],
  ])('%s', async (_what, path, code, message) => {
    const res = await load({ path });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code, message: expect.stringMatching(message) });
    const { res: out } = await greedy('r1', 'r1-alt');
    expect(out.status).toBe(200);
  });

  it('GET /v1/reasoners shows the failures; DELETE clears one', async () => {
    const failed = (await list()).filter((i) => i.state === 'failed');
    expect(failed.map((i) => i.name)).toEqual(expect.arrayContaining(['corrupt', 'no-model', 'bad-tokenizer']));
    expect(failed.find((i) => i.name === 'corrupt')!.error).toMatch(/not a readable ONNX file/);
    expect((await unload('corrupt')).body).toMatchObject({ state: 'failed', deleted: true });
    expect((await list()).some((i) => i.name === 'corrupt')).toBe(false);
  });

  it('a failed replacement leaves the version in service and is shown beside it', async () => {
    const res = await load({ path: 'staging/bad-tokenizer', name: 'r1', replace: true });
    expect(res.status).toBe(400);
    const r1 = (await list()).filter((i) => i.name === 'r1').map((i) => i.state).sort();
    expect(r1).toEqual(['failed', 'ready']);
    expect((await greedy('r1', 'r1-alt')).res.body.choices[0].text).toBe(references.fused['r1-alt'][0].greedy_text);
  });

  it('10 load/unload cycles leave nothing loaded or draining (memory: bench/module-cycles.ts)', async () => {
    for (let i = 0; i < 10; i++) {
      expect((await load({ path: 'staging/r2', name: 'cycled' })).status).toBe(201);
      expect((await unload('cycled')).status).toBe(200);
    }
    expect((await list()).some((i) => i.name === 'cycled')).toBe(false);
    expect(server.ctx.engine.inFlight).toBe(0);
  });
});

describe('admin API without --admin-token', () => {
  it('no --reasoners-dir: run-time loads are refused with a 400 that says to start with it', async () => {
    const bare = await startTestServer([]);
    try {
      const res = await postJson(`${bare.url}/v1/reasoners`, { path: REASONERS });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/--reasoners-dir/);
    } finally {
      await bare.close();
    }
  });

  const external = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
  it.skipIf(!external)('answers loopback clients only (403 from another address)', async () => {
    const open = await startTestServer(['--host', '0.0.0.0', '--reasoners-dir', root]);
    try {
      const port = new URL(open.url).port;
      const local = await postJson(`http://127.0.0.1:${port}/v1/reasoners`, { path: 'staging/r2' });
      expect(local.status).toBe(201);
      const remote = await postJson(`http://${external!.address}:${port}/v1/reasoners`, { path: 'staging/r2', replace: true });
      expect(remote.status).toBe(403);
      expect(remote.body.error).toMatchObject({ code: 'forbidden', type: 'permission_error', message: expect.stringMatching(/--admin-token/) });
      const del = await fetch(`http://${external!.address}:${port}/v1/reasoners/r2`, { method: 'DELETE' });
      expect(del.status).toBe(403);
      // Reading the list stays public.
      expect((await fetch(`http://${external!.address}:${port}/v1/reasoners`)).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});
