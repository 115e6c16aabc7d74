import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningServer } from '../../server/start.js';
import { REASONERS, references } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;

/** A real `ws` client that files the server's messages by generation id. */
class StreamClient {
  readonly all: Msg[] = [];
  private readonly listeners = new Set<(m: Msg) => void>();
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Msg;
      this.all.push(m);
      for (const l of this.listeners) l(m);
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string): Promise<StreamClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/stream`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new StreamClient(ws);
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next message that matches, within 10 s. */
  next(match: (m: Msg) => boolean): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no matching message within 10 s')), 10_000);
      const l = (m: Msg) => {
        if (!match(m)) return;
        clearTimeout(timer);
        this.listeners.delete(l);
        resolve(m);
      };
      this.listeners.add(l);
    });
  }

  /**
   * Sends a generate message; resolves with its token messages and its end: the done, or the error that
   * refused the message (an error before any token; a generation that started always ends with done).
   */
  async generate(id: string | number, body: Msg): Promise<{ tokens: Msg[]; end: Msg }> {
    const tokens: Msg[] = [];
    const collect = (m: Msg) => m.id === id && m.type === 'token' && tokens.push(m);
    this.listeners.add(collect);
    this.send({ type: 'generate', id, ...body });
    const end = await this.next((m) => m.id === id && (m.type === 'done' || (m.type === 'error' && tokens.length === 0)));
    this.listeners.delete(collect);
    return { tokens, end };
  }

  close(): void {
    this.ws.close();
  }
}

const ref = references.fused.r1[0];
const greedy = { prompt: ref.prompt, max_tokens: 8, temperature: 0, ignore_eos: true, reasoners: [{ name: 'r1' }] };
let server: RunningServer;
let client: StreamClient;

beforeAll(async () => {
  server = await startTestServer(['--reasoners-dir', REASONERS, '--ws-max-generations', '4', '--ws-max-message-bytes', '4096']);
  client = await StreamClient.open(server.url);
});
afterAll(async () => {
  client?.close();
  await server?.close();
});

describe('WebSocket /v1/stream', () => {
  it('streams base+r1\'s greedy tokens (PyTorch reference), then done with usage', async () => {
    const { tokens, end } = await client.generate('g1', greedy);
    expect(tokens.map((t) => t.token_id)).toEqual(ref.greedy_ids);
    expect(tokens.every((t) => t.index === 0 && t.type === 'token' && typeof t.text === 'string')).toBe(true);
    expect(tokens.map((t) => t.text).join('') + end.text).toBe(ref.greedy_text);
    expect(end).toMatchObject({ type: 'done', id: 'g1', finish_reason: 'length', usage: { prompt_tokens: ref.prompt_ids.length, completion_tokens: 8, total_tokens: ref.prompt_ids.length + 8 } });
  });

  it('gives the same text as SSE for the same seed, for a prompt of token ids and for n > 1 choices (index)', async () => {
    const params = { prompt: references.models['tiny-mha-f32'][2].prompt_ids, max_tokens: 20, temperature: 0.9, seed: 11, n: 3, ignore_eos: true };
    const [ws, http] = await Promise.all([client.generate(42, params), postJson(`${server.url}/v1/completions`, { model: 'tiny-mha-f32', ...params })]);
    expect(http.status).toBe(200);
    expect(ws.end.type).toBe('done');
    expect(ws.end.choices.map((c: Msg) => c.finish_reason)).toEqual(['length', 'length', 'length']);
    for (let i = 0; i < 3; i++) {
      const mine = ws.tokens.filter((t) => t.index === i);
      expect(mine).toHaveLength(20);
      expect(mine.map((t) => t.text).join('') + ws.end.choices[i].text).toBe(http.body.choices[i].text);
    }
    expect(ws.end.usage.completion_tokens).toBe(60);
  });

  it('runs several generations at once on one socket', async () => {
    const prompts = references.fused.r1.slice(0, 3);
    const results = await Promise.all(prompts.map((p, i) => client.generate(`par-${i}`, { ...greedy, prompt: p.prompt })));
    results.forEach((r, i) => expect(r.tokens.map((t) => t.token_id)).toEqual(prompts[i].greedy_ids));
  });

  it('adds logprobs to token messages when asked', async () => {
    const { tokens, end } = await client.generate('lp', { ...greedy, logprobs: 2 });
    // Each message lists the tokens whose text it returns: together, every returned token once, in order.
    const entries = [...tokens.flatMap((t) => t.logprobs), ...end.logprobs];
    expect(entries.map((e) => e.token_id)).toEqual(ref.greedy_ids);
    expect(entries[0].logprob).toBeLessThanOrEqual(0);
    expect(entries[0].top_logprobs).toHaveLength(2);
    expect(entries[0].top_logprobs[0]).toMatchObject({ token_id: ref.greedy_ids[0] });
  });

  it('cancel stops that generation only: finish_reason cancelled, well before max_tokens', async () => {
    const other = client.generate('keep', { prompt: 'a', max_tokens: 200, ignore_eos: true });
    const long = client.generate('long', { prompt: 'a', max_tokens: 480, ignore_eos: true, n: 2 });
    await client.next((m) => m.id === 'long' && m.type === 'token');
    client.send({ type: 'cancel', id: 'long' });
    const { tokens, end } = await long;
    expect(end).toMatchObject({ type: 'done', id: 'long', finish_reason: 'cancelled' });
    expect(end.choices.map((c: Msg) => c.finish_reason)).toEqual(['cancelled', 'cancelled']);
    expect(end.usage.completion_tokens).toBe(tokens.length);
    expect(tokens.length).toBeLessThan(2 * 480);
    expect((await other).end).toMatchObject({ finish_reason: 'length', usage: { completion_tokens: 200 } });
  });

  it('takes the structured-output fields of /v1/completions: the same grammar, the same text as HTTP; a bad one is an error naming the field', async () => {
    const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 999 }, w: { type: 'string', maxLength: 4 } }, required: ['n', 'w'], additionalProperties: false };
    const params = { prompt: 'x', max_tokens: 60, temperature: 1, seed: 3, n: 2, response_format: { type: 'json_schema', json_schema: { name: 'r', schema } } };
    const [ws, http] = await Promise.all([client.generate('json', params), postJson(`${server.url}/v1/completions`, { model: 'tiny-mha-f32', ...params })]);
    expect(http.status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const text = ws.tokens.filter((t) => t.index === i).map((t) => t.text).join('') + ws.end.choices[i].text;
      expect(text).toBe(http.body.choices[i].text);
      expect(JSON.parse(text)).toEqual({ n: expect.any(Number), w: expect.any(String) });
    }
    const regex = await client.generate('re', { prompt: 'x', max_tokens: 10, temperature: 1, seed: 1, structured_outputs: { regex: '[a-c]{3}!' } });
    expect(regex.tokens.map((t) => t.text).join('') + regex.end.text).toMatch(/^[a-c]{3}!$/);
    const bad = await client.generate('bad', { prompt: 'x', guided_json: { type: 'objec' } });
    expect(bad.end).toMatchObject({ type: 'error', id: 'bad', error: { code: 'invalid_request', param: 'guided_json' } });
    expect(bad.end.error.message).toContain('Unsupported type "objec"');
  });

  it('closing the socket cancels all of its generations', async () => {
    const c = await StreamClient.open(server.url);
    for (let i = 0; i < 3; i++) c.send({ type: 'generate', id: i, prompt: 'a', max_tokens: 480, ignore_eos: true });
    await c.next((m) => m.type === 'token');
    expect(server.ctx.lifecycle.inFlight).toBeGreaterThan(0);
    c.close();
    const t0 = performance.now();
    while (server.ctx.lifecycle.inFlight > 0 || server.ctx.engine.inFlight > 0) {
      expect(performance.now() - t0).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});

describe('WebSocket errors: an error message, and the socket stays open', () => {
  const errorFor = (id: unknown) => client.next((m) => m.type === 'error' && m.id === id);

  it('malformed JSON, a non-object, an unknown type, a binary message', async () => {
    client.send('{"type": "generate",');
    expect((await client.next((m) => m.type === 'error')).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', message: expect.stringMatching(/not valid JSON/) });
    client.send('[1,2]');
    expect((await client.next((m) => m.type === 'error')).error.param).toBe('type');
    client.send({ type: 'explode', id: 'x1' });
    expect((await errorFor('x1')).error.message).toMatch(/unknown message type "explode"/);
    client.ws.send(Buffer.from('{}'), { binary: true });
    expect((await client.next((m) => m.type === 'error')).error.message).toMatch(/binary/);
    expect((await client.generate('after', greedy)).end.type).toBe('done');
  });

  it('validation as in /v1/completions, naming the parameter', async () => {
    client.send({ type: 'generate', id: 'v1', prompt: 'x', temperature: 3 });
    expect((await errorFor('v1')).error).toMatchObject({ param: 'temperature', code: 'invalid_request', type: 'invalid_request_error' });
    client.send({ type: 'generate', id: 'v2', prompt: 'x', max_tokens: '5' });
    expect((await errorFor('v2')).error.param).toBe('max_tokens');
    client.send({ type: 'generate', id: 'v3' });
    expect((await errorFor('v3')).error.param).toBe('prompt');
    client.send({ type: 'generate', prompt: 'x' });
    expect((await client.next((m) => m.type === 'error' && m.id === undefined)).error.param).toBe('id');
    client.send({ type: 'generate', id: 'v4', prompt: 'x', model: 'gpt-4' });
    expect((await errorFor('v4')).error).toMatchObject({ code: 'model_not_found', param: 'model' });
    client.send({ type: 'generate', id: 'v5', prompt: 'hello '.repeat(600) });
    expect((await errorFor('v5')).error.code).toBe('context_length_exceeded');
    client.send({ type: 'generate', id: 'v6', prompt: 'x', reasoners: [{ name: 'nope' }] });
    expect((await errorFor('v6')).error).toMatchObject({ code: 'reasoner_not_found', type: 'not_found_error', message: expect.stringMatching(/nope/) });
    client.send({ type: 'generate', id: 'v7', prompt: [5000] });
    expect((await errorFor('v7')).error.message).toMatch(/outside the vocabulary/);
    client.send({ type: 'generate', id: 'v8', prompt: ['a', 'b'] });
    expect((await errorFor('v8')).error).toMatchObject({ param: 'prompt', message: expect.stringMatching(/one prompt.*one message per prompt/) });
  });

  it('a duplicate id in flight, a cancel of an unknown id', async () => {
    const first = client.generate('dup', { prompt: 'a', max_tokens: 300, ignore_eos: true });
    await client.next((m) => m.id === 'dup' && m.type === 'token');
    client.send({ type: 'generate', id: 'dup', prompt: 'a' });
    expect((await errorFor('dup')).error).toMatchObject({ param: 'id', message: expect.stringMatching(/already running/) });
    client.send({ type: 'cancel', id: 'dup' });
    expect((await first).end.finish_reason).toBe('cancelled');
    client.send({ type: 'cancel', id: 'ghost' });
    expect((await errorFor('ghost')).error.code).toBe('not_found');
  });

  it('at most --ws-max-generations per socket', async () => {
    const c = await StreamClient.open(server.url);
    for (let i = 0; i < 4; i++) c.send({ type: 'generate', id: i, prompt: 'a', max_tokens: 400, ignore_eos: true });
    c.send({ type: 'generate', id: 4, prompt: 'a', max_tokens: 4 });
    const err = await c.next((m) => m.type === 'error' && m.id === 4);
    expect(err.error).toMatchObject({ code: 'too_many_generations', type: 'rate_limit_error', message: expect.stringMatching(/--ws-max-generations/) });
    c.close();
  });

  it('a message over --ws-max-message-bytes closes the socket with 1009', async () => {
    const c = await StreamClient.open(server.url);
    c.send({ type: 'generate', id: 'big', prompt: 'x'.repeat(5000) });
    expect((await c.closed).code).toBe(1009);
    // The server is fine, and so is the other socket.
    expect((await client.generate('still', greedy)).end.finish_reason).toBe('length');
  });

  it('a plain GET (no upgrade) is told to use a WebSocket', async () => {
    const res = await fetch(`${server.url}/v1/stream`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as Msg).error.message).toMatch(/WebSocket/);
  });
});

describe('queue full over WebSocket', () => {
  it('gives {code: queue_full, type: rate_limit_error} when the engine cannot take more', async () => {
    const small = await startTestServer(['--max-batch', '1', '--max-queue', '0']);
    const c = await StreamClient.open(small.url);
    try {
      const first = c.generate('a', { prompt: 'a', max_tokens: 300, ignore_eos: true });
      await c.next((m) => m.id === 'a' && m.type === 'token');
      c.send({ type: 'generate', id: 'b', prompt: 'a', max_tokens: 4 });
      const err = await c.next((m) => m.type === 'error' && m.id === 'b');
      expect(err.error).toMatchObject({ code: 'queue_full', type: 'rate_limit_error' });
      expect((await first).end.finish_reason).toBe('length');
    } finally {
      c.close();
      await small.close();
    }
  });
});
