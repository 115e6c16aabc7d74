import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningServer } from '../../server/start.js';
import { FIXTURES, REASONERS, references, servedText } from '../helpers/fixtures.js';
import { describeEachProvider } from '../helpers/providers.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** A real `ws` client on /v1/stream (messages filed by generation id). */
class StreamClient {
  private readonly listeners = new Set<(m: Json) => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Json;
      for (const l of this.listeners) l(m);
    });
  }
  static async open(url: string): Promise<StreamClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/stream`);
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    return new StreamClient(ws);
  }
  next(match: (m: Json) => boolean): Promise<Json> {
    return new Promise((resolve, reject) => {
      // A hang detector, not a speed check: on a loaded 2-core machine the 480-token batches take well over 15 s.
      const timer = setTimeout(() => reject(new Error('no matching message within 50 s')), 50_000);
      const l = (m: Json) => {
        if (!match(m)) return;
        clearTimeout(timer);
        this.listeners.delete(l);
        resolve(m);
      };
      this.listeners.add(l);
    });
  }
  /** Resolves with the token ids per choice index and the done (or the error that refused the message). */
  async generate(id: string, body: Json): Promise<{ ids: number[][]; end: Json }> {
    const ids: number[][] = [];
    const collect = (m: Json) => m.id === id && m.type === 'token' && (ids[m.index] ??= []).push(m.token_id);
    this.listeners.add(collect);
    this.ws.send(JSON.stringify({ type: 'generate', id, ...body }));
    const end = await this.next((m) => m.id === id && (m.type === 'done' || (m.type === 'error' && ids.length === 0)));
    this.listeners.delete(collect);
    return { ids, end };
  }
}

const MODEL = 'tiny-mha-f32';
const ref = references.fused.r1[0];

/** On every provider: on WebGPU the base and every module version share the engine thread, the device's owner. */
describeEachProvider('hot swap', ({ ep }) => {
  // Long enough to be running while a new version loads; a software GPU is ~20x slower than the CPU here.
  const LONG = ep === 'cpu' ? 480 : 64;
  const long = { prompt: ref.prompt_ids, max_tokens: LONG, temperature: 0, ignore_eos: true, reasoners: [{ name: 'r1' }] };
  let root: string;
  let server: RunningServer;
  let client: StreamClient;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'unir-hotswap-'));
    cpSync(join(REASONERS, 'r1'), join(root, 'r1'), { recursive: true });
    cpSync(join(REASONERS, 'r2'), join(root, 'r2'), { recursive: true });
    cpSync(join(REASONERS, 'r1'), join(root, 'staging', 'r1-v1'), { recursive: true });
    cpSync(join(FIXTURES, 'reasoners-alt', 'r1'), join(root, 'staging', 'r1-v2'), { recursive: true });
    server = await startTestServer(['--reasoners-dir', root, '--ep', ep]);
    client = await StreamClient.open(server.url);
  });
  afterAll(async () => {
    client?.ws.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const admin = (body: Json) => postJson(`${server.url}/v1/reasoners`, body);
  const unload = async (name: string) => {
    const res = await fetch(`${server.url}/v1/reasoners/${name}`, { method: 'DELETE' });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const list = async (): Promise<Json[]> => ((await (await fetch(`${server.url}/v1/reasoners`)).json()) as Json).data;
  const versions = async (name: string) => (await list()).filter((i) => i.name === name).map((i) => ({ version: i.version, state: i.state, in_flight: i.in_flight }));
  async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<void> {
    const t0 = Date.now();
    while (!(await check())) {
      if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** A streamed /v1/completions read as it arrives: `first` resolves on the first chunk. */
  function sse(body: Json): { first: Promise<void>; result: Promise<{ status: number; texts: string[]; finish: string[]; errors: Json[] }> } {
    let markFirst!: () => void;
    const first = new Promise<void>((r) => (markFirst = r));
    const result = (async () => {
      const res = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, ...body, stream: true }) });
      const texts: string[] = [];
      const finish: string[] = [];
      const errors: Json[] = [];
      if (res.status !== 200) {
        markFirst();
        return { status: res.status, texts, finish, errors: [(await res.json()) as Json] };
      }
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        const end = buffer.lastIndexOf('\n\n');
        if (end < 0) continue;
        for (const frame of parseSse(buffer.slice(0, end + 2))) {
          if (frame === '[DONE]') continue;
          const f = frame as Json;
          if (f.error) errors.push(f);
          for (const c of f.choices ?? []) {
            texts[c.index] = (texts[c.index] ?? '') + c.text;
            if (c.finish_reason) finish[c.index] = c.finish_reason;
            markFirst();
          }
        }
        buffer = buffer.slice(end + 2);
      }
      return { status: res.status, texts, finish, errors };
    })();
    return { first, result };
  }

  let idsV1: number[];
  let idsV2: number[];

  describe('hot swap while streaming (SSE and WebSocket)', () => {
    it('replace: requests in flight finish on the version they started with; new ones get the new version', async () => {
      const v1 = await client.generate('v1', long);
      idsV1 = v1.ids[0];
      expect(idsV1).toHaveLength(LONG);
      expect(idsV1.slice(0, 8)).toEqual(ref.greedy_ids); // PyTorch: base + r1 v1.0.0

      // Four choices each over SSE and WebSocket: long enough to be running while the new version loads.
      const overSse = sse({ ...long, n: 4 });
      const overWs = client.generate('inflight', { ...long, n: 4 });
      await Promise.all([overSse.first, client.next((m) => m.id === 'inflight' && m.type === 'token')]);

      const replaced = await admin({ path: 'staging/r1-v2', replace: true });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ name: 'r1', version: '2.0.0', state: 'ready', replaced: true });
      // The overlap is real: the old version is draining with both requests on it.
      expect(await versions('r1')).toEqual([
        { version: '2.0.0', state: 'ready', in_flight: 0 },
        { version: '1.0.0', state: 'draining', in_flight: 2 },
      ]);

      // A new request runs on 2.0.0 while the old ones still run on 1.0.0, in the same batch.
      const v2 = await client.generate('v2', long);
      idsV2 = v2.ids[0];
      expect(idsV2.slice(0, 8)).toEqual(references.fused['r1-alt'][0].greedy_ids); // PyTorch: base + r1 v2.0.0
      expect(idsV2).not.toEqual(idsV1);

      const sseDone = await overSse.result;
      expect(sseDone.errors).toEqual([]);
      expect(sseDone.finish).toEqual(['length', 'length', 'length', 'length']);
      for (const text of sseDone.texts) expect(text).toBe(servedText(idsV1));
      const wsDone = await overWs;
      expect(wsDone.end).toMatchObject({ type: 'done', finish_reason: 'length', usage: { completion_tokens: 4 * LONG } });
      for (const ids of wsDone.ids) expect(ids).toEqual(idsV1);

      // Its last request ended: the old version is released.
      await eventually(async () => (await versions('r1')).length === 1);
      expect(await versions('r1')).toEqual([{ version: '2.0.0', state: 'ready', in_flight: 0 }]);
    });

    it('unload: requests in flight finish; new requests naming it get 404 with a clear message; then it is released', async () => {
      const overSse = sse({ ...long, n: 4 });
      const overWs = client.generate('unload-inflight', { ...long, n: 4 });
      await Promise.all([overSse.first, client.next((m) => m.id === 'unload-inflight' && m.type === 'token')]);

      const del = await unload('r1');
      expect(del.status).toBe(200);
      expect(del.body).toMatchObject({ name: 'r1', version: '2.0.0', state: 'draining', in_flight: 2, deleted: true });

      const refused = await postJson(`${server.url}/v1/completions`, { model: MODEL, ...long, stream: true });
      expect(refused.status).toBe(404);
      expect(refused.body.error).toMatchObject({ code: 'reasoner_not_found', type: 'not_found_error', message: expect.stringMatching(/no reasoning module named r1 is loaded/) });
      const refusedWs = await client.generate('after-unload', long);
      expect(refusedWs.end).toMatchObject({ type: 'error', error: { code: 'reasoner_not_found' } });

      const sseDone = await overSse.result;
      expect(sseDone.errors).toEqual([]);
      for (const text of sseDone.texts) expect(text).toBe(servedText(idsV2));
      const wsDone = await overWs;
      expect(wsDone.end.finish_reason).toBe('length');
      for (const ids of wsDone.ids) expect(ids).toEqual(idsV2);
      await eventually(async () => (await versions('r1')).length === 0);
    });

    it('zero failed requests over SSE and WebSocket while modules are loaded, replaced and unloaded', async () => {
      expect((await admin({ path: 'staging/r1-v1' })).status).toBe(201);
      const SHORT = 24;
      const short = { prompt: ref.prompt_ids, max_tokens: SHORT, temperature: 0, ignore_eos: true };
      const r2 = (await client.generate('r2-expected', { ...short, reasoners: [{ name: 'r2' }] })).ids[0];
      const expected: Record<string, number[][]> = { r1: [idsV1.slice(0, SHORT), idsV2.slice(0, SHORT)], r2: [r2] };
      const expectedText: Record<string, string[]> = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, v.map(servedText)]));

      let stop = false;
      const outcomes: { via: string; module: string; ok: boolean; version: number; detail: unknown }[] = [];
      const wsLoop = async (c: StreamClient, k: number) => {
        for (let i = 0; !stop; i++) {
          const module = i % 3 === 2 ? 'r2' : 'r1';
          const { ids, end } = await c.generate(`load-${k}-${i}`, { ...short, reasoners: [{ name: module }] });
          const version = expected[module].findIndex((e) => JSON.stringify(e) === JSON.stringify(ids[0]));
          outcomes.push({ via: 'ws', module, version, ok: end.type === 'done' && end.finish_reason === 'length' && version >= 0, detail: end });
        }
      };
      const sseLoop = async () => {
        for (let i = 0; !stop; i++) {
          const module = i % 3 === 1 ? 'r2' : 'r1';
          const r = await sse({ ...short, reasoners: [{ name: module }] }).result;
          const version = expectedText[module].indexOf(r.texts[0]);
          outcomes.push({ via: 'sse', module, version, ok: r.status === 200 && r.errors.length === 0 && r.finish[0] === 'length' && version >= 0, detail: r });
        }
      };
      const second = await StreamClient.open(server.url);
      const traffic = Promise.all([wsLoop(client, 0), wsLoop(second, 1), sseLoop(), sseLoop()]);

      const ops: (() => Promise<{ status: number }>)[] = [
        () => admin({ path: 'r2', name: 'r3' }),
        () => admin({ path: 'staging/r1-v2', replace: true }),
        () => unload('r3'),
        () => admin({ path: 'r2', name: 'r3', default_weight: 0.5 }),
        () => admin({ path: 'staging/r1-v1', replace: true }),
        () => unload('r3'),
        () => admin({ path: 'staging/r1-v2', replace: true }),
      ];
      for (const op of ops) {
        await new Promise((r) => setTimeout(r, 150));
        expect((await op()).status).toBeLessThan(300);
      }
      await new Promise((r) => setTimeout(r, 150));
      // Traffic goes on until enough requests have finished (a software GPU serves fewer in the same time).
      await eventually(async () => outcomes.length > 20, 120_000);
      stop = true;
      await traffic;
      second.ws.close();

      const failed = outcomes.filter((o) => !o.ok);
      expect(failed).toEqual([]);
      expect(outcomes.length).toBeGreaterThan(20);
      expect(new Set(outcomes.filter((o) => o.via === 'sse').map((o) => o.module))).toEqual(new Set(['r1', 'r2']));
      // Both versions of r1 served (each request wholly on one of them: its output is one of the two).
      expect(new Set(outcomes.filter((o) => o.module === 'r1').map((o) => o.version))).toEqual(new Set([0, 1]));
      await eventually(async () => (await list()).every((i) => i.state === 'ready'));
      expect((await list()).map((i) => `${i.name}@${i.version}`).sort()).toEqual(['r1@2.0.0', 'r2@1.0.0']);
    });
  });
});
