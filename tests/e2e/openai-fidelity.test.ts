import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { references, servedText } from '../helpers/fixtures.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

/** What OpenAI's API reference documents and the official SDKs send, replayed against the real server. */
const MODEL = 'tiny-mha-f32';
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer();
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => server.close());

type Ext = Record<string, unknown>;
const refs = references.models[MODEL];
const [hello, fox] = [refs[0], refs[1]];
const greedy = { max_tokens: 8, temperature: 0, ignore_eos: true };
const post = (path: string, body: unknown) => postJson(`${server.url}${path}`, body);
const complete = (body: Ext) => post('/v1/completions', { model: MODEL, ...body });

describe('every prompt form of POST /v1/completions', () => {
  it('the openai client with a list of strings gets one choice per prompt, prompt-major with n, usage summed', async () => {
    const res = (await client.completions.create({ model: MODEL, prompt: [hello.prompt, fox.prompt], n: 2, ...greedy } as Ext as never)) as OpenAI.Completion;
    expect(res.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(res.choices.map((c) => c.text)).toEqual([hello, hello, fox, fox].map((r) => servedText(r.greedy_ids)));
    const promptTokens = hello.prompt_ids.length + fox.prompt_ids.length;
    expect(res.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 32, total_tokens: promptTokens + 32 });
  });

  it('a list of token arrays, and a single token array, as OpenAI documents them', async () => {
    const many = await complete({ prompt: [fox.prompt_ids, hello.prompt_ids], ...greedy });
    expect(many.status).toBe(200);
    expect(many.body.choices.map((c: { text: string }) => c.text)).toEqual([servedText(fox.greedy_ids), servedText(hello.greedy_ids)]);
    const one = await complete({ prompt: [fox.prompt_ids], ...greedy });
    expect(one.body.choices).toHaveLength(1);
    expect(one.body.usage.prompt_tokens).toBe(fox.prompt_ids.length);
  });

  it('streams several prompts with prompt-major indexes; every chunk carries usage: null under include_usage', async () => {
    const res = await complete({ prompt: [hello.prompt, fox.prompt], ...greedy, stream: true, stream_options: { include_usage: true } });
    const frames = parseSse(res.body as string);
    expect(frames.at(-1)).toBe('[DONE]');
    const chunks = frames.slice(0, -1) as { choices: { index: number; text: string }[]; usage: unknown }[];
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: hello.prompt_ids.length + fox.prompt_ids.length, completion_tokens: 16 });
    for (const c of chunks.slice(0, -1)) expect(c).toHaveProperty('usage', null);
    const text = (i: number) => chunks.flatMap((c) => c.choices).filter((c) => c.index === i).map((c) => c.text).join('');
    expect([text(0), text(1)]).toEqual([servedText(hello.greedy_ids), servedText(fox.greedy_ids)]);
  });

  it('echo repeats each choice\'s own prompt', async () => {
    const res = await complete({ prompt: [hello.prompt, fox.prompt], ...greedy, echo: true });
    expect(res.body.choices.map((c: { text: string }) => c.text)).toEqual([
      hello.prompt + servedText(hello.greedy_ids),
      fox.prompt + servedText(fox.greedy_ids),
    ]);
  });

  it('400 for a list mixing strings and token ids, an empty list, or a negative id, naming the rule', async () => {
    const mixed = await complete({ prompt: ['a', 1] });
    expect(mixed.status).toBe(400);
    expect(mixed.body.error.param).toBe('prompt');
    expect(mixed.body.error.message).toMatch(/strings, token ids or arrays of token ids, not a mix/);
    const empty = await complete({ prompt: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/fewer than 1 items/);
    const negative = await complete({ prompt: [[1, -2]] });
    expect(negative.status).toBe(400);
    expect(negative.body.error.message).toMatch(/prompt\[0\]\[1\].*non-negative integer/);
  });

  it('400 when the prompts times n exceed what the server holds, before anything runs', async () => {
    const res = await complete({ prompt: Array.from({ length: 10 }, () => 'a'), n: 16 });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/160 sequences.*--max-batch.*--max-queue/);
  });
});

describe('POST /tokenize takes the same prompt forms', () => {
  it('a list of strings gives a list of token lists, and the count the completion would use', async () => {
    const res = await post('/tokenize', { model: MODEL, prompt: [hello.prompt, fox.prompt] });
    expect(res.status).toBe(200);
    expect(res.body.tokens).toEqual([hello.prompt_ids, fox.prompt_ids]);
    expect(res.body.count).toBe(hello.prompt_ids.length + fox.prompt_ids.length);
  });

  it('token arrays come back checked against the vocabulary', async () => {
    const ok = await post('/tokenize', { prompt: [fox.prompt_ids] });
    expect(ok.body.tokens).toEqual([fox.prompt_ids]);
    const bad = await post('/tokenize', { prompt: [1, 99999] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('prompt');
  });
});

describe('OpenAI\'s statuses, codes and rules', () => {
  it('an unknown model is 404 model_not_found, which the SDK raises as NotFoundError', async () => {
    const res = await complete({ model: 'gpt-4o', prompt: 'x' });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'model_not_found', param: 'model', type: 'invalid_request_error' });
    await expect(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.completions.create({ model: 'gpt-4o', prompt: 'x' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    // GET /v1/models/{model}, the SDK's models.retrieve: the served id, a 404 model_not_found for any other.
    expect(await client.models.retrieve(MODEL)).toMatchObject({ id: MODEL, object: 'model', owned_by: 'unir-serve' });
    for (const id of ['gpt-4o', `${MODEL}+nosuch`]) {
      const err = await client.models.retrieve(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    }
  });

  it('stream_options without stream: true is a 400 (OpenAI: "Only set this when you set stream: true"); null is fine', async () => {
    for (const stream of [false, undefined]) {
      const res = await complete({ prompt: 'x', max_tokens: 1, stream, stream_options: { include_usage: true } });
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe('stream_options');
    }
    const chat = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 1, stream_options: { include_usage: true } });
    expect(chat.status).toBe(400);
    expect((await complete({ prompt: 'x', max_tokens: 1, stream_options: null })).status).toBe(200);
  });

  it('max_completion_tokens on /v1/completions is a 400 naming max_tokens (it is a chat parameter in OpenAI\'s reference)', async () => {
    const res = await complete({ prompt: 'x', max_completion_tokens: 3 });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('max_completion_tokens');
    expect(res.body.error.message).toMatch(/max_tokens/);
  });

  it('stop rules are named: at most 4 strings, none empty', async () => {
    const five = await complete({ prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] });
    expect(five.status).toBe(400);
    expect(five.body.error.message).toMatch(/more than 4 items/);
    for (const stop of [[''], '', ['a', '']]) {
      const res = await complete({ prompt: 'x', stop });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/fewer than 1 characters/);
      expect(res.body.error.param).toMatch(/^stop/);
    }
  });

  it('a text content part without text says so', async () => {
    const res = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: [{ type: 'text' }] }] });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/text part.*needs "text"/);
  });

  it('seeds are integers within +-(2^53 - 1); beyond is a 400, not a silent collapse', async () => {
    for (const seed of [2 ** 53, -(2 ** 53), 2 ** 64]) {
      const res = await complete({ prompt: 'x', max_tokens: 1, seed });
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe('seed');
    }
    const fraction = await complete({ prompt: 'x', max_tokens: 1, seed: 1.5 });
    expect(fraction.body.error.message).toBe("'seed' must be an integer or null");
    const edge = await Promise.all([Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER].map((seed) => complete({ prompt: 'x', max_tokens: 4, seed, ignore_eos: true })));
    for (const res of edge) expect(res.status).toBe(200);
  });
});
