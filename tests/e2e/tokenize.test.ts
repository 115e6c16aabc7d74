import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { references } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

const MODEL = 'tiny-mha-f32';
let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server.close());

const tokenize = (body: unknown) => postJson(`${server.url}/tokenize`, body);
const detokenize = (body: unknown) => postJson(`${server.url}/detokenize`, body);
const HELLO = [{ role: 'user', content: 'Hello world' }];
const IM_START = references.tokenizer.specials['<|im_start|>'];
const IM_END = references.tokenizer.specials['<|im_end|>'];

describe('POST /tokenize', () => {
  it('tokenizes a prompt as the model\'s tokenizer does (HF\'s ids)', async () => {
    for (const sample of references.tokenizer.samples) {
      const res = await tokenize({ model: MODEL, prompt: sample.text });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ tokens: sample.ids, count: sample.ids.length, max_model_len: 512 });
    }
  });

  it('model is optional, and may name modules (same vocabulary)', async () => {
    const [a, b] = await Promise.all([tokenize({ prompt: 'Hello world' }), tokenize({ model: `${MODEL}+r1`, prompt: 'Hello world' })]);
    expect(a.body.tokens).toEqual(references.tokenizer.samples[0].ids);
    expect(b.body.tokens).toEqual(a.body.tokens);
  });

  it('tokenizes messages through the chat template, as the chat endpoint counts them', async () => {
    const res = await tokenize({ model: MODEL, messages: HELLO, return_token_strs: true });
    const text = '<|im_start|>user\nHello world<|im_end|>\n<|im_start|>assistant\n';
    expect(res.body.tokens[0]).toBe(IM_START);
    expect(res.body.tokens).toContain(IM_END);
    expect(res.body.token_strs.join('')).toBe(text);
    expect(res.body.count).toBe(res.body.tokens.length);
    const chat = await postJson(`${server.url}/v1/chat/completions`, { model: MODEL, messages: HELLO, max_tokens: 1 });
    expect(chat.body.usage.prompt_tokens).toBe(res.body.count);
    const back = await detokenize({ tokens: res.body.tokens });
    expect(back.body.prompt).toBe(text);
  });

  it('add_generation_prompt: false leaves the assistant turn closed', async () => {
    const open = await tokenize({ messages: HELLO });
    const closed = await tokenize({ messages: HELLO, add_generation_prompt: false });
    const back = await detokenize({ tokens: closed.body.tokens });
    expect(back.body.prompt).toBe('<|im_start|>user\nHello world<|im_end|>\n');
    expect(open.body.tokens.slice(0, closed.body.count)).toEqual(closed.body.tokens);
    expect(open.body.count).toBeGreaterThan(closed.body.count);
  });

  it('400 in OpenAI\'s shape for bad bodies', async () => {
    const cases: [unknown, string][] = [
      [{}, 'prompt'],
      [{ prompt: 'x', messages: HELLO }, 'messages'],
      [{ prompt: 5 }, 'prompt'],
      [{ messages: [{ role: 'user' , content: [{ type: 'image_url' }] }] }, 'messages.0.content'],
    ];
    for (const [body, param] of cases) {
      const res = await tokenize(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
    }
    const unknown = await tokenize({ model: 'gpt-4', prompt: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });
});

describe('POST /detokenize', () => {
  it('turns ids into text (HF\'s), special tokens included', async () => {
    for (const sample of references.tokenizer.samples) {
      const res = await detokenize({ model: MODEL, tokens: sample.ids });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ prompt: sample.text });
    }
    const special = await detokenize({ tokens: [IM_START, 72, 105, IM_END] });
    expect(special.body.prompt).toBe('<|im_start|>Hi<|im_end|>');
    expect((await detokenize({ tokens: [] })).body).toEqual({ prompt: '' });
  });

  it('400 for ids outside the vocabulary or a missing or mistyped list; 404 for another model', async () => {
    const cases: [unknown, string][] = [
      [{ tokens: [1, 307] }, 'tokens'],
      [{ tokens: [-1] }, 'tokens.0'],
      [{ tokens: 'abc' }, 'tokens'],
      [{}, 'tokens'],
    ];
    for (const [body, param] of cases) {
      const res = await detokenize(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
    }
    const other = await detokenize({ model: 'other', tokens: [1] });
    expect(other.status).toBe(404);
    expect(other.body.error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });

  it('405 for GET, and both routes are in /openapi.json with their body schemas', async () => {
    for (const path of ['/tokenize', '/detokenize']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, any>> };
    expect(doc.paths['/tokenize'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('messages');
    expect(doc.paths['/detokenize'].post.requestBody.content['application/json'].schema.required).toEqual(['tokens']);
    expect(doc.paths['/v1/chat/completions'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('top_logprobs');
    expect(doc.paths['/v1/chat/completions'].post.summary).toMatch(/chat template/);
  });
});
