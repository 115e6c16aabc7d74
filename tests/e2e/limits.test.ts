import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

/** Limits and errors: body size, context length, max_tokens, the request timeout, the queue, 404/405, error shape. */
const MODEL = 'tiny-mha-f32';
let small: RunningServer;
let slow: RunningServer;

beforeAll(async () => {
  [small, slow] = await Promise.all([
    startTestServer(['--body-limit', '2048', '--max-model-len', '64']),
    startTestServer(['--request-timeout', '1', '--max-batch', '1', '--max-queue', '16']),
  ]);
});
afterAll(async () => Promise.all([small?.close(), slow?.close()]));

/** Every error body is exactly OpenAI's {error: {message, type, param, code}}. */
function expectErrorShape(body: any, status: number, code: string, type: string): void {
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error).toMatchObject({ code, type });
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.param === null || typeof body.error.param === 'string').toBe(true);
  expect(status).toBeGreaterThanOrEqual(400);
}

describe('body size (--body-limit 2048)', () => {
  it('413 in OpenAI\'s shape beyond the limit, on every POST route; under it the request is served', async () => {
    for (const path of ['/v1/completions', '/v1/chat/completions', '/tokenize']) {
      const res = await postJson(`${small.url}${path}`, { model: MODEL, prompt: 'x'.repeat(3000), messages: [{ role: 'user', content: 'x' }] });
      expect(res.status, path).toBe(413);
      expectErrorShape(res.body, res.status, 'payload_too_large', 'invalid_request_error');
    }
    const ok = await postJson(`${small.url}/v1/completions`, { model: MODEL, prompt: 'x'.repeat(20), max_tokens: 2 });
    expect(ok.status).toBe(200);
  });
});

describe('context length (--max-model-len 64)', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => 97 + (i % 26));

  it('a prompt over the context: 400 in OpenAI\'s words', async () => {
    const res = await postJson(`${small.url}/v1/completions`, { model: MODEL, prompt: ids(70), max_tokens: 4 });
    expect(res.status).toBe(400);
    expectErrorShape(res.body, res.status, 'context_length_exceeded', 'invalid_request_error');
    expect(res.body.error.message).toBe(
      "This model's maximum context length is 64 tokens. However, you requested 74 tokens (70 in the prompt, 4 for the completion). Please reduce the length of the prompt or completion.",
    );
    expect(res.body.error.param).toBe('prompt');
  });

  it('max_tokens is bounded by the rest of the context', async () => {
    const over = await postJson(`${small.url}/v1/completions`, { model: MODEL, prompt: ids(60), max_tokens: 5 });
    expect(over.status).toBe(400);
    expect(over.body.error).toMatchObject({ code: 'context_length_exceeded', param: 'max_tokens' });
    expect(over.body.error.message).toMatch(/^This model's maximum context length is 64 tokens\. However, you requested 65 tokens \(60 in the prompt, 5 for the completion\)/);
    const fits = await postJson(`${small.url}/v1/completions`, { model: MODEL, prompt: ids(60), max_tokens: 4, ignore_eos: true });
    expect(fits.status).toBe(200);
    expect(fits.body.usage).toEqual({ prompt_tokens: 60, completion_tokens: 4, total_tokens: 64 });
    // Without max_tokens: completions' default (16) is clipped to the rest; chat takes the rest.
    const clipped = await postJson(`${small.url}/v1/completions`, { model: MODEL, prompt: ids(60), ignore_eos: true });
    expect(clipped.body.usage.completion_tokens).toBe(4);
    const chat = await postJson(`${small.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }], ignore_eos: true });
    expect(chat.body.usage.total_tokens).toBe(64);
    expect(chat.body.choices[0].finish_reason).toBe('length');
  });

  it('/tokenize reports the served context as max_model_len', async () => {
    const res = await postJson(`${small.url}/tokenize`, { prompt: 'hi' });
    expect(res.body.max_model_len).toBe(64);
  });
});

describe('request timeout (--request-timeout 1)', () => {
  // 16 x 500 tokens one sequence at a time takes several seconds: the timeout cancels it after 1 s.
  const long = { model: MODEL, prompt: 'a', max_tokens: 500, n: 16, ignore_eos: true };

  it('cancels a plain request and answers 408 in OpenAI\'s shape; the sequences leave the engine', async () => {
    const t0 = performance.now();
    const res = await postJson(`${slow.url}/v1/completions`, long);
    const elapsed = performance.now() - t0;
    expect(res.status).toBe(408);
    expectErrorShape(res.body, res.status, 'request_timeout', 'timeout_error');
    expect(res.body.error.message).toMatch(/--request-timeout \(1 s\)/);
    expect(elapsed).toBeGreaterThan(950);
    expect(elapsed).toBeLessThan(3000);
    const stats = await slow.ctx.engine.stats();
    expect(stats.running + stats.prefilling + stats.waiting).toBe(0);
    expect(slow.ctx.lifecycle.inFlight).toBe(0);
    const metrics = await (await fetch(`${slow.url}/metrics`)).text();
    // Sequences that finished before the timeout count as length; the cancelled ones as error.
    const count = (reason: string) => Number(new RegExp(`^unir_requests_total\\{endpoint="completions",finish_reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    expect(count('error')).toBeGreaterThan(0);
    expect(count('error') + count('length')).toBe(16);
  });

  it('reports the timeout in a stream as an error event, then [DONE]', async () => {
    const res = await postJson(`${slow.url}/v1/chat/completions`, { ...long, prompt: undefined, max_tokens: 400, messages: [{ role: 'user', content: 'a' }], stream: true });
    expect(res.status).toBe(200);
    const frames = parseSse(res.body as string);
    expect(frames.at(-1)).toBe('[DONE]');
    const errors = frames.filter((f) => typeof f === 'object' && f !== null && 'error' in f) as { error: { code: string } }[];
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expectErrorShape(e, 408, 'request_timeout', 'timeout_error');
  });

  it('429 queue_full with retry-after when batch and queue are full', async () => {
    // 16 sequences fill the batch (1) and most of the queue (16): 2 more do not fit.
    const busy = postJson(`${slow.url}/v1/completions`, long);
    await new Promise((r) => setTimeout(r, 50));
    const res = await postJson(`${slow.url}/v1/completions`, { model: MODEL, prompt: 'a', max_tokens: 2, n: 2 });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expectErrorShape(res.body, res.status, 'queue_full', 'rate_limit_error');
    // A streaming request is refused the same way, before any event is sent.
    const streamed = await postJson(`${slow.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'a' }], max_tokens: 2, n: 2, stream: true });
    expect(streamed.status).toBe(429);
    expect(streamed.headers.get('retry-after')).toBe('1');
    expectErrorShape(streamed.body, streamed.status, 'queue_full', 'rate_limit_error');
    expect((await busy).status).toBe(408);
  });
});

describe('404, 405 and malformed requests, in OpenAI\'s shape', () => {
  it('404 for unknown routes', async () => {
    for (const [method, path] of [['GET', '/v1/nothing'], ['POST', '/v1/chat'], ['GET', '/nothing'], ['POST', '/tokenizer']]) {
      const res = await fetch(`${small.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expectErrorShape(await res.json(), 404, 'not_found', 'not_found_error');
    }
  });

  it('405 with Allow for a wrong method on a known route', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/v1/chat/completions', 'POST'],
      ['PUT', '/v1/completions', 'POST'],
      ['GET', '/tokenize', 'POST'],
      ['DELETE', '/detokenize', 'POST'],
      ['POST', '/health', 'GET'],
      ['POST', '/ready', 'GET'],
      ['POST', '/metrics', 'GET'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await fetch(`${small.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expectErrorShape(await res.json(), 405, 'method_not_allowed', 'invalid_request_error');
    }
  });

  it('400 for a body that is not JSON, an empty body, a wrong content type, or not an object', async () => {
    const send = (body: string, type = 'application/json') => fetch(`${small.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': type }, body });
    for (const [body, type] of [['{"model":', 'application/json'], ['', 'application/json'], ['model=x', 'text/plain'], ['[1,2]', 'application/json']]) {
      const res = await send(body, type);
      expect(res.status, `${type} ${body}`).toBe(400);
      expectErrorShape(await res.json(), res.status, 'invalid_request', 'invalid_request_error');
    }
  });
});
