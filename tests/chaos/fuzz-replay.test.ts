import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { FuzzCase } from '../../scripts/make-fuzz-corpus.js';
import type { RunningServer } from '../../server/start.js';
import { REASONERS } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * Replays the fuzz corpus (scripts/make-fuzz-corpus.ts: malformed requests over every endpoint, HTTP itself and
 * the WebSocket's messages). Every case must get a 4xx (or, on the WebSocket, an error message) in OpenAI's error
 * shape, within 10 s; after every batch of 50 the server must still be healthy and serve a completion.
 */
const corpus: FuzzCase[] = JSON.parse(readFileSync(join(import.meta.dirname, 'fuzz-corpus.json'), 'utf8'));
const BATCH = 50;

function expectOpenAiError(body: unknown, note: string): void {
  const error = (body as { error?: Record<string, unknown> })?.error;
  expect(error, note).toBeTypeOf('object');
  expect(typeof error!.message, note).toBe('string');
  expect(typeof error!.type, note).toBe('string');
  expect(typeof error!.code, note).toBe('string');
  expect(error!.param === null || typeof error!.param === 'string', note).toBe(true);
  expect(error!.message as string, note).not.toMatch(/\/(tmp|work|home|root|usr|onnxruntime_src)\//);
}

async function sendHttp(url: string, c: FuzzCase): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}${c.path}`, { method: c.method, headers: c.headers, body: c.body ?? undefined, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the shape check fails with the note
  }
  return { status: res.status, body };
}

function sendRaw(url: string, bytes: string): Promise<{ status: number; body: unknown }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(Buffer.from(bytes, 'latin1')));
    let text = '';
    const timer = setTimeout(() => (socket.destroy(), reject(new Error('no answer within 10 s'))), 10_000);
    socket.on('data', (d) => (text += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      let body: unknown = null;
      try {
        body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
      } catch {
        // shape check fails
      }
      resolve({ status, body });
    });
  });
}

describe('fuzz corpus replay', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer(['--reasoners-dir', REASONERS]);
  });
  afterAll(async () => server?.close());

  it(`holds at least 300 cases over every endpoint`, () => {
    expect(corpus.length).toBeGreaterThanOrEqual(300);
    const paths = new Set(corpus.map((c) => c.path?.split('?')[0].replace(/\/%.*$/, '')));
    for (const p of ['/v1/completions', '/v1/chat/completions', '/tokenize', '/detokenize', '/v1/reasoners', '/v1/models', '/health', '/ready', '/metrics', '/openapi.json', '/v1/stream']) expect(paths.has(p), p).toBe(true);
    expect(corpus.some((c) => c.kind === 'ws')).toBe(true);
    expect(corpus.some((c) => c.kind === 'raw')).toBe(true);
  });

  const http = corpus.filter((c) => c.kind !== 'ws');
  for (let start = 0; start < http.length; start += BATCH) {
    const batch = http.slice(start, start + BATCH);
    it(`cases ${batch[0].id}-${batch[batch.length - 1].id}: a 4xx in OpenAI's shape each, then a healthy server`, async () => {
      for (const c of batch) {
        const res = c.kind === 'raw' ? await sendRaw(server.url, c.body!) : await sendHttp(server.url, c);
        const note = `#${c.id} ${c.note}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`;
        expect(res.status >= 400 && res.status < 500, note).toBe(true);
        expectOpenAiError(res.body, note);
      }
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      const ok = await postJson(`${server.url}/v1/completions`, { model: 'tiny-mha-f32', prompt: 'Hello world', max_tokens: 4 });
      expect(ok.status).toBe(200);
    });
  }

  it('WebSocket messages: an error message each, in OpenAI\'s shape; the socket stays open and serves a generation', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/stream`);
    const received: Record<string, any>[] = [];
    ws.on('message', (d) => received.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.on('open', r));
    const cases = corpus.filter((c) => c.kind === 'ws');
    for (const c of cases) {
      const before = received.length;
      ws.send(c.body!);
      const end = performance.now() + 10_000;
      while (received.length === before && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
      const msg = received[before];
      expect(msg?.type, `#${c.id} ${c.note}: ${JSON.stringify(msg)}`).toBe('error');
      expectOpenAiError(msg, `#${c.id} ${c.note}`);
    }
    ws.send(JSON.stringify({ type: 'generate', id: 'ok', prompt: 'Hello world', max_tokens: 4 }));
    const end = performance.now() + 10_000;
    while (!received.some((m) => m.type === 'done' && m.id === 'ok') && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(received.find((m) => m.type === 'done' && m.id === 'ok')).toBeDefined();
    ws.close();
  });
});
