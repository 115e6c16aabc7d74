import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { references, servedText } from '../helpers/fixtures.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

const MODEL = 'tiny-mha-f32';
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer();
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
});
afterAll(async () => server.close());

/** Extension fields (top_k, ignore_eos, ...) go in the body as the OpenAI SDK passes them through. */
type Ext = Record<string, unknown>;
type ErrorJson = { error: { type: string; code: string } };

describe('POST /v1/completions with the openai client', () => {
  const ref = references.models[MODEL][1];

  it('returns PyTorch\'s greedy continuation, with usage', async () => {
    const res = await client.completions.create({ model: MODEL, prompt: ref.prompt, max_tokens: ref.greedy_ids.length, temperature: 0, ignore_eos: true } as Ext as never);
    const c = res as OpenAI.Completion;
    expect(c.object).toBe('text_completion');
    expect(c.choices[0].text).toBe(servedText(ref.greedy_ids));
    expect(c.choices[0].finish_reason).toBe('length');
    expect(c.usage).toEqual({ prompt_tokens: ref.prompt_ids.length, completion_tokens: ref.greedy_ids.length, total_tokens: ref.prompt_ids.length + ref.greedy_ids.length });
  });

  it('streams the same text as the plain response, ending with usage when asked', async () => {
    const params = { model: MODEL, prompt: 'once upon a time', max_tokens: 40, temperature: 0.9, seed: 7, ignore_eos: true };
    const plain = (await client.completions.create(params as Ext as never)) as OpenAI.Completion;
    const stream = await client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } } as Ext as never);
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Completion>) {
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        text += choice.text;
        finish = choice.finish_reason ?? finish;
      }
    }
    expect(text).toBe(plain.choices[0].text);
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(40);
  });

  it('gives the same text for the same seed, and other text for another seed', async () => {
    const ask = (seed: number) =>
      client.completions.create({ model: MODEL, prompt: 'Hello', max_tokens: 24, temperature: 1, seed, ignore_eos: true } as Ext as never) as Promise<OpenAI.Completion>;
    const [a, b, c] = await Promise.all([ask(1), ask(1), ask(2)]);
    expect(a.choices[0].text).toBe(b.choices[0].text);
    expect(a.choices[0].text).not.toBe(c.choices[0].text);
  });

  it('stops before a stop string, streamed and plain alike', async () => {
    const fox = references.models[MODEL][1];
    const stop = servedText(fox.greedy_ids).slice(4, 8);
    const params = { model: MODEL, prompt: fox.prompt, max_tokens: 8, temperature: 0, stop: [stop], ignore_eos: true };
    const plain = (await client.completions.create(params as Ext as never)) as OpenAI.Completion;
    expect(plain.choices[0].text).toBe(servedText(fox.greedy_ids).slice(0, servedText(fox.greedy_ids).indexOf(stop)));
    expect(plain.choices[0].finish_reason).toBe('stop');
    const res = await postJson(`${server.url}/v1/completions`, { ...params, stream: true });
    const frames = parseSse(res.body as string);
    expect(frames.at(-1)).toBe('[DONE]');
    const chunks = frames.slice(0, -1) as { choices: { text: string; finish_reason: string | null }[] }[];
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(plain.choices[0].text);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
  });

  it('accepts a prompt as token ids', async () => {
    const res = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: ref.prompt_ids, max_tokens: 8, temperature: 0, ignore_eos: true });
    expect(res.status).toBe(200);
    expect(res.body.choices[0].text).toBe(servedText(ref.greedy_ids));
  });
});

describe('errors in OpenAI\'s shape', () => {
  const post = (body: unknown) => postJson(`${server.url}/v1/completions`, body);

  it('400 for an invalid parameter, naming it', async () => {
    const res = await post({ model: MODEL, prompt: 'x', temperature: 3 });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'temperature', code: 'invalid_request' });
    expect(res.body.error.message).toMatch(/temperature/);
  });

  it('400 for a wrongly typed parameter (no coercion)', async () => {
    const res = await post({ model: MODEL, prompt: 'x', max_tokens: '5' });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('max_tokens');
  });

  it('400 for a missing prompt', async () => {
    const res = await post({ model: MODEL });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'prompt', message: "'prompt' is required" });
  });

  it('404 for an unknown model', async () => {
    const res = await post({ model: 'gpt-4', prompt: 'x' });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });

  it('400 for a prompt longer than the context, in OpenAI\'s words', async () => {
    const res = await post({ model: MODEL, prompt: 'hello '.repeat(600), max_tokens: 4 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('context_length_exceeded');
    expect(res.body.error.message).toMatch(/^This model's maximum context length is 512 tokens\. However, you requested \d+ tokens/);
  });

  it('400 when max_tokens does not fit the context', async () => {
    const res = await post({ model: MODEL, prompt: 'hi', max_tokens: 600 });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('max_tokens');
  });

  it('400 for a body that is not JSON', async () => {
    const res = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorJson).error.type).toBe('invalid_request_error');
  });

  it('404 for an unknown route, 405 for a wrong method', async () => {
    const missing = await fetch(`${server.url}/v1/nothing`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorJson).error.code).toBe('not_found');
    const wrong = await fetch(`${server.url}/v1/completions`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('the openai client surfaces the error as an APIError with the status', async () => {
    await expect(client.completions.create({ model: MODEL, prompt: 'x', top_p: 0 })).rejects.toMatchObject({ status: 400 });
  });
});

describe('service endpoints', () => {
  it('GET /v1/models lists the base', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL]);
  });

  // Ordering, not latency (bench/health-latency.ts measures that): answered while the long streams are in flight.
  it('/health and a short request are answered while long generations are still streaming', async () => {
    const events: string[] = [];
    // 12 of the 16 batch slots: the short request is not queued behind them.
    const longs = await Promise.all(
      Array.from({ length: 3 }, () => client.completions.create({ model: MODEL, prompt: 'a', max_tokens: 500, ignore_eos: true, n: 4, stream: true } as Ext as never)),
    );
    const finishes: string[] = [];
    const drained = longs.map(async (stream, i) => {
      let first = true;
      for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Completion>) {
        if (first) events.push(`long ${i} first token`);
        first = false;
        for (const c of chunk.choices) if (c.finish_reason) finishes.push(c.finish_reason);
      }
      events.push(`long ${i} done`);
    });
    // Every long stream has started generating before the probes go out.
    while (events.length < longs.length) await new Promise((r) => setTimeout(r, 5));
    const health = await fetch(`${server.url}/health`);
    events.push('health answered');
    const short = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'b', max_tokens: 2, ignore_eos: true });
    events.push('short answered');
    await Promise.all(drained);

    expect(health.status).toBe(200);
    expect(short.status).toBe(200);
    expect(short.body.choices[0].finish_reason).toBe('length');
    expect(finishes).toEqual(Array(12).fill('length'));
    // Both probes came back before any long stream ended.
    const firstDone = events.findIndex((e) => e.endsWith('done'));
    expect(events.indexOf('health answered')).toBeLessThan(firstDone);
    expect(events.indexOf('short answered')).toBeLessThan(firstDone);
  });
});
