import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseServerOptions } from '../../server/options.js';
import type { RunningServer } from '../../server/start.js';
import { FIXTURES, MHA, REASONERS } from '../helpers/fixtures.js';
import { postJson, RAW_LINE, startLoggedServer } from '../helpers/server.js';

/**
 * What an operator and an attacker see: no file system paths or native text in public bodies, a request id that
 * leads to the log line with the details, every error in OpenAI's shape, client addresses in the log, API keys,
 * origins, drain behaviour of WebSockets, and a receive timeout on request bodies.
 */
const MODEL = 'tiny-mha-f32';
type Logs = Record<string, any>[];

/**
 * Sends raw bytes, `gapMs` apart; resolves with what came back once the server closes the connection (or after `ms`),
 * and how many chunks were still unsent then.
 */
function rawExchange(url: string, chunks: (string | Buffer)[], ms = 5000, gapMs = 0): Promise<{ text: string; closed: boolean; unsent: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let sent = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false, unsent: chunks.length - sent });
    }, ms);
    socket.on('data', (d) => (text += d.toString()));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true, unsent: chunks.length - sent });
    });
    socket.on('error', () => undefined);
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) break;
        socket.write(c);
        sent++;
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

function jsonOf(raw: string): any {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

describe('public bodies and the log', () => {
  let server: RunningServer;
  let logs: Logs;
  beforeAll(async () => {
    ({ server, logs } = await startLoggedServer(['--reasoners-dir', REASONERS, '--reasoner', join(FIXTURES, 'faulty', 'r-fails')]));
  });
  afterAll(async () => server?.close());

  it('a 500 names the module and the request id, shows no native text; the log line with that id has the details', async () => {
    const res = await postJson(`${server.url}/v1/completions`, { model: `${MODEL}+r-fails`, prompt: 'Hello world', max_tokens: 8, temperature: 0 });
    expect(res.status).toBe(500);
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.error.message).toBe(`reasoning module r-fails failed at run time (request id ${id})`);
    const line = logs.find((l) => l.reqId === id && l.msg === 'request failed')!;
    expect(line.level).toBe(50);
    expect(line.remoteAddress).toBe('127.0.0.1');
    expect(line.detail).toMatch(/ConstantOfShape/);
  });

  it('a client\'s own X-Request-Id is kept (a plain token), anything else replaced', async () => {
    const mine = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'trace-42.a' } });
    expect(mine.headers.get('x-request-id')).toBe('trace-42.a');
    const odd = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'a b<script>' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('GET /v1/reasoners shows module paths relative to the modules root, errors without server paths', async () => {
    const text = await (await fetch(`${server.url}/v1/reasoners`)).text();
    expect(text).not.toContain(FIXTURES);
    expect(text).not.toMatch(/"\/(tmp|work|home|root|usr)\//);
    const list = JSON.parse(text).data as { name: string; path: string }[];
    expect(list.find((m) => m.name === 'r1')!.path).toBe('r1');
    expect(list.find((m) => m.name === 'r-fails')!.path).toBe('r-fails');
  });

  it('fastify\'s own errors have OpenAI\'s shape: bad URL encoding, 404, 405, 413, 431, malformed HTTP', async () => {
    const badUrl = await fetch(`${server.url}/v1/reasoners/%ff`, { method: 'DELETE' });
    expect(badUrl.status).toBe(400);
    expect(((await badUrl.json()) as any).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request' });
    const missing = await fetch(`${server.url}/nope`);
    expect(((await missing.json()) as any).error.code).toBe('not_found');
    const method = await fetch(`${server.url}/v1/completions`, { method: 'PUT' });
    expect(method.status).toBe(405);
    expect(((await method.json()) as any).error.code).toBe('method_not_allowed');
    const big = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'x'.repeat(2 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as any).error.code).toBe('payload_too_large');
    const headers = await rawExchange(server.url, [`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`]);
    expect(headers.text).toMatch(/^HTTP\/1\.1 431/);
    expect(jsonOf(headers.text).error.code).toBe('header_too_large');
    const garbage = await rawExchange(server.url, ['BLAH / HTTP/9\r\n\r\n']);
    expect(garbage.text).toMatch(/^HTTP\/1\.1 400/);
    expect(jsonOf(garbage.text).error.type).toBe('invalid_request_error');
  });

  it('admin actions are logged with the client address', async () => {
    const del = await fetch(`${server.url}/v1/reasoners/r2`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const line = logs.find((l) => l.msg === 'reasoning module unloaded (admin); draining')!;
    expect(line).toMatchObject({ remoteAddress: '127.0.0.1', reasoner: 'r2' });
  });

  it('shutting_down refusals are logged at info without a stack; a WebSocket during drain gets HTTP 503', async () => {
    server.ctx.lifecycle.draining = true;
    try {
      const res = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 2 });
      expect(res.status).toBe(503);
      const line = logs.find((l) => l.reqId === res.headers.get('x-request-id'))!;
      expect(line).toMatchObject({ level: 30, code: 'shutting_down' });
      expect(line.stack).toBeUndefined();
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/stream`);
        ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
      expect(status).toBe(503);
    } finally {
      server.ctx.lifecycle.draining = false;
    }
  });
});

describe('authentication, origins and shutdown of sockets', () => {
  let server: RunningServer;
  let logs: Logs;
  beforeAll(async () => {
    ({ server, logs } = await startLoggedServer(['--api-key', 'key-one', '--allowed-origins', 'https://app.example', '--admin-token', 'adm'], { UNIR_API_KEY: 'ignored-when-the-flag-is-given' }));
  });
  afterAll(async () => server?.close());
  const withKey = (key: string) => ({ authorization: `Bearer ${key}` });

  it('UNIR_API_KEY holds several keys, comma-separated; the flag can be repeated', () => {
    expect(parseServerOptions(['--model', MHA], { UNIR_API_KEY: 'a,b' }).apiKey).toEqual(['a', 'b']);
    expect(parseServerOptions(['--model', MHA, '--api-key', 'a', '--api-key', 'b'], {}).apiKey).toEqual(['a', 'b']);
  });

  it('/v1 needs a key (401 in OpenAI\'s shape, logged with the address); /health and /ready do not; /metrics is open by default', async () => {
    const none = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 2 });
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ code: 'unauthorized', type: 'authentication_error' });
    const wrong = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 2 }, withKey('key-two'));
    expect(wrong.status).toBe(401);
    expect(logs.some((l) => l.msg === 'API key refused' && l.remoteAddress === '127.0.0.1' && l.reason === 'wrong key')).toBe(true);
    expect((await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 2 }, withKey('key-one'))).status).toBe(200);
    expect((await fetch(`${server.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${server.url}/tokenize`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
  });

  it('a refused admin request is logged with the client address (the socket\'s, not X-Forwarded-For)', async () => {
    const denied = await postJson(`${server.url}/v1/reasoners`, { path: 'r1' }, { 'x-forwarded-for': '10.0.0.1', ...withKey('key-one') });
    expect(denied.status).toBe(401);
    expect(logs.find((l) => l.msg === 'admin request refused')).toMatchObject({ remoteAddress: '127.0.0.1', reason: 'wrong token' });
  });

  it('the WebSocket upgrade needs the key too', async () => {
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/stream`, { headers });
        ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
        ws.on('open', () => (ws.close(), resolve(101)));
        ws.on('error', () => undefined);
      });
    expect(await status({})).toBe(401);
    expect(await status(withKey('key-one'))).toBe(101);
    expect(await status({ ...withKey('key-one'), origin: 'https://evil.example' })).toBe(403);
  });

  it('a browser\'s WebSocket may carry the key as the subprotocol openai-insecure-api-key.<KEY> with unir-serve; the server selects unir-serve', async () => {
    const handshake = (protocols: string[]) =>
      new Promise<{ status: number; protocol?: string; body?: any }>((resolve) => {
        const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/stream`, protocols);
        ws.on('unexpected-response', (_req, r) => {
          let text = '';
          r.on('data', (c) => (text += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
        });
        ws.on('open', () => (resolve({ status: 101, protocol: ws.protocol }), ws.close()));
        ws.on('error', () => undefined);
      });
    const ok = await handshake(['unir-serve', 'openai-insecure-api-key.key-one']);
    expect(ok).toEqual({ status: 101, protocol: 'unir-serve' });
    // The order of the offer does not matter: the key is never the selected protocol.
    expect(await handshake(['openai-insecure-api-key.key-one', 'unir-serve'])).toEqual({ status: 101, protocol: 'unir-serve' });
    const wrong = await handshake(['unir-serve', 'openai-insecure-api-key.key-two']);
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 'unauthorized', message: 'the API key is not valid' });
    expect((await handshake(['unir-serve'])).status).toBe(401);
    const alone = await handshake(['openai-insecure-api-key.key-one']);
    expect(alone.status).toBe(400);
    expect(alone.body.error.message).toMatch(/unir-serve/);
    // Only an upgrade reads the key from Sec-WebSocket-Protocol: a plain request with that header is still refused.
    expect((await fetch(`${server.url}/v1/models`, { headers: { 'sec-websocket-protocol': 'unir-serve, openai-insecure-api-key.key-one' } })).status).toBe(401);
    expect(JSON.stringify(logs)).not.toContain('key-one');
  });

  it('cross-origin calls are refused unless listed; the server\'s own origin and listed ones are served', async () => {
    const call = (origin: string) => fetch(`${server.url}/v1/models`, { headers: { ...withKey('key-one'), origin } });
    const evil = await call('https://evil.example');
    expect(evil.status).toBe(403);
    expect(((await evil.json()) as any).error.code).toBe('forbidden');
    const listed = await call('https://app.example');
    expect(listed.status).toBe(200);
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await call(server.url)).status).toBe(200);
    const preflight = await fetch(`${server.url}/v1/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);
  });

  it('each log line names its request id once (log stores such as Elasticsearch refuse duplicate keys)', () => {
    const refusals = logs.filter((l) => l.msg === 'API key refused' || l.msg === 'admin request refused');
    expect(refusals.length).toBeGreaterThan(0);
    expect(logs.filter((l) => (String((l as Record<symbol, unknown>)[RAW_LINE]).match(/"reqId":/g) ?? []).length > 1).map((l) => l.msg)).toEqual([]);
  });

  it('at shutdown an open WebSocket is closed with 1001 Going Away', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/stream`, { headers: withKey('key-one') });
    await new Promise((r) => ws.on('open', r));
    const code = new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
    await server.close();
    expect(await code).toBe(1001);
  });
});

describe('--body-timeout, --metrics-auth', () => {
  let server: RunningServer;
  beforeAll(async () => {
    ({ server } = await startLoggedServer(['--body-timeout', '1', '--api-key', 'k', '--metrics-auth']));
  });
  afterAll(async () => server?.close());

  it('a body sent one byte at a time is cut with 408 in OpenAI\'s shape', async () => {
    const head = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`;
    // 24 bytes 400 ms apart (about 10 s): a 1 s receive timeout cuts the body while bytes are still coming.
    const res = await rawExchange(server.url, [head, ...'{"model": "tiny-mha-f32"'.split('')], 30_000, 400);
    expect(res.closed).toBe(true);
    expect(res.unsent).toBeGreaterThan(0);
    expect(res.text).toMatch(/^HTTP\/1\.1 408/);
    expect(jsonOf(res.text).error).toMatchObject({ code: 'request_timeout', type: 'timeout_error' });
  });

  it('with --metrics-auth, /metrics needs the API key too; /health does not', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer k' } })).status).toBe(200);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});
