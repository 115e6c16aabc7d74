import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { GQA, MHA, REASONERS } from '../helpers/fixtures.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

const MODEL = 'tiny-mha-f32';
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer(['--reasoners-dir', REASONERS]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
});
afterAll(async () => server.close());

/** Extension fields (top_k, ignore_eos, ...) go in the body as the OpenAI SDK passes them through. */
type Ext = Record<string, unknown>;
type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;

/** The fixture's ChatML template, written out by hand. */
const chatml = (messages: { role: string; content: string }[], addGenerationPrompt = true) =>
  messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') + (addGenerationPrompt ? '<|im_start|>assistant\n' : '');

const chat = (params: Ext) => client.chat.completions.create({ model: MODEL, ...params } as never) as Promise<OpenAI.Chat.Completions.ChatCompletion>;
const complete = (params: Ext) => client.completions.create({ model: MODEL, ...params } as never) as Promise<OpenAI.Completion>;

async function streamChat(params: Ext): Promise<Chunk[]> {
  const stream = await client.chat.completions.create({ model: MODEL, ...params, stream: true } as never);
  const chunks: Chunk[] = [];
  for await (const c of stream as unknown as AsyncIterable<Chunk>) chunks.push(c);
  return chunks;
}

/** Per choice: the deltas in order. */
function byChoice(chunks: Chunk[]): Map<number, Chunk['choices'][number][]> {
  const out = new Map<number, Chunk['choices'][number][]>();
  for (const c of chunks) for (const choice of c.choices) out.set(choice.index, [...(out.get(choice.index) ?? []), choice]);
  return out;
}

const HELLO = [{ role: 'user' as const, content: 'Hello world' }];

describe('POST /v1/chat/completions with the openai client', () => {
  it('renders the messages through the model\'s chat template: the reply is the completion of the ChatML text', async () => {
    const res = await chat({ messages: HELLO, max_tokens: 12, temperature: 0, ignore_eos: true });
    const ref = await complete({ prompt: chatml(HELLO), max_tokens: 12, temperature: 0, ignore_eos: true });
    expect(res.object).toBe('chat.completion');
    expect(res.id).toMatch(/^chatcmpl-/);
    expect(res.model).toBe(MODEL);
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0].message.role).toBe('assistant');
    expect(res.choices[0].message.content).toBe(ref.choices[0].text);
    expect(res.choices[0].finish_reason).toBe('length');
    expect(res.usage).toEqual(ref.usage);
    expect(res.usage!.completion_tokens).toBe(12);
  });

  it('accepts content as text parts and a system message', async () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Hello ' }, { type: 'text', text: 'world' }] },
    ];
    const res = await chat({ messages, max_tokens: 6, temperature: 0, ignore_eos: true });
    const ref = await complete({ prompt: chatml([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello world' }]), max_tokens: 6, temperature: 0, ignore_eos: true });
    expect(res.choices[0].message.content).toBe(ref.choices[0].text);
    expect(res.usage!.prompt_tokens).toBe(ref.usage!.prompt_tokens);
  });

  it('streams a role delta first, then content deltas, then finish_reason; the text equals the plain reply', async () => {
    const params = { messages: HELLO, max_tokens: 30, temperature: 0.9, seed: 11, ignore_eos: true };
    const plain = await chat(params);
    const chunks = await streamChat({ ...params, stream_options: { include_usage: true } });
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe(chunks[0].id);
    }
    const deltas = byChoice(chunks).get(0)!;
    expect(deltas[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(deltas.slice(1).every((d) => d.delta.role === undefined)).toBe(true);
    expect(deltas.slice(0, -1).every((d) => d.finish_reason === null)).toBe(true);
    expect(deltas.at(-1)!.finish_reason).toBe('length');
    expect(deltas.map((d) => d.delta.content ?? '').join('')).toBe(plain.choices[0].message.content);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(plain.usage);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('without include_usage the stream has no usage', async () => {
    const res = await postJson(`${server.url}/v1/chat/completions`, { model: MODEL, messages: HELLO, max_tokens: 3, stream: true });
    const frames = parseSse(res.body as string);
    expect(frames.at(-1)).toBe('[DONE]');
    for (const f of frames.slice(0, -1) as Chunk[]) {
      expect(f.choices).toHaveLength(1);
      expect('usage' in f).toBe(false);
    }
  });

  it('n > 1: choice i uses seed + i, plain and streamed alike', async () => {
    const params = { messages: HELLO, max_tokens: 16, temperature: 1, seed: 40, n: 3, ignore_eos: true };
    const plain = await chat(params);
    expect(plain.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const singles = await Promise.all([0, 1, 2].map((i) => chat({ ...params, n: 1, seed: 40 + i })));
    expect(plain.choices.map((c) => c.message.content)).toEqual(singles.map((s) => s.choices[0].message.content));
    expect(new Set(plain.choices.map((c) => c.message.content)).size).toBeGreaterThan(1);
    expect(plain.usage!.completion_tokens).toBe(48);

    const chunks = await streamChat({ ...params, stream_options: { include_usage: true } });
    const per = byChoice(chunks);
    expect([...per.keys()].sort()).toEqual([0, 1, 2]);
    for (const [index, deltas] of per) {
      expect(deltas[0].delta.role).toBe('assistant');
      expect(deltas.at(-1)!.finish_reason).toBe('length');
      expect(deltas.map((d) => d.delta.content ?? '').join('')).toBe(plain.choices[index].message.content);
    }
    expect(chunks.at(-1)!.usage).toEqual(plain.usage);
  });

  it('logprobs in chat format: the sampled token, its bytes and top alternatives, from the fused distribution', async () => {
    const res = await chat({ messages: HELLO, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 3, ignore_eos: true });
    const content = res.choices[0].logprobs!.content!;
    expect(content).toHaveLength(10);
    for (const e of content) {
      expect(e.top_logprobs).toHaveLength(3);
      expect(e.logprob).toBeLessThanOrEqual(0);
      // Greedy: the sampled token is the most likely one.
      expect(e.token).toBe(e.top_logprobs[0].token);
      expect(e.bytes).toEqual(e.top_logprobs[0].bytes);
      expect(e.logprob).toBeCloseTo(e.top_logprobs[0].logprob, 10);
      const lps = e.top_logprobs.map((t) => t.logprob);
      expect([...lps].sort((a, b) => b - a)).toEqual(lps);
      expect(lps.reduce((s, lp) => s + Math.exp(lp), 0)).toBeLessThanOrEqual(1 + 1e-9);
    }
    // The bytes of the tokens spell the reply exactly (tokens split inside a character included).
    const bytes = content.flatMap((e) => e.bytes!);
    expect(Buffer.from(bytes).toString('utf8')).toBe(res.choices[0].message.content);
    // The same numbers as /v1/completions on the rendered prompt.
    const ref = await complete({ prompt: chatml(HELLO), max_tokens: 10, temperature: 0, logprobs: 3, ignore_eos: true });
    const refLp = ref.choices[0].logprobs!;
    expect(content.map((e) => e.logprob)).toEqual(refLp.token_logprobs);
    // Completion tokens are the text each returns ("" for a byte inside a character, which chat shows as U+FFFD).
    expect(refLp.tokens!.join('')).toBe(res.choices[0].message.content);
  });

  it('logprobs: true alone gives no alternatives; top_logprobs does not depend on temperature', async () => {
    const bare = await chat({ messages: HELLO, max_tokens: 4, logprobs: true, seed: 3 });
    expect(bare.choices[0].logprobs!.content!.every((e) => e.top_logprobs.length === 0)).toBe(true);
    const none = await chat({ messages: HELLO, max_tokens: 4, seed: 3 });
    expect(none.choices[0].logprobs).toBeNull();
    const first = async (temperature: number) =>
      (await chat({ messages: HELLO, max_tokens: 1, temperature, seed: 5, logprobs: true, top_logprobs: 5 })).choices[0].logprobs!.content![0].top_logprobs;
    expect(await first(0.3)).toEqual(await first(1.7));
  });

  it('streamed logprobs equal the plain ones', async () => {
    const params = { messages: HELLO, max_tokens: 20, temperature: 1, seed: 9, logprobs: true, top_logprobs: 2, ignore_eos: true };
    const plain = await chat(params);
    const chunks = await streamChat(params);
    const streamed = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.logprobs?.content ?? []));
    expect(streamed).toEqual(plain.choices[0].logprobs!.content);
  });

  it('selects reasoning modules as /v1/completions does (BASE+name or "reasoners")', async () => {
    const params = { messages: HELLO, max_tokens: 10, temperature: 0, ignore_eos: true };
    const base = await chat(params);
    const byName = await chat({ ...params, model: `${MODEL}+r1` });
    const byField = await chat({ ...params, reasoners: [{ name: 'r1' }] });
    const ref = await complete({ prompt: chatml(HELLO), max_tokens: 10, temperature: 0, ignore_eos: true, model: `${MODEL}+r1` });
    expect(byName.choices[0].message.content).toBe(ref.choices[0].text);
    expect(byField.choices[0].message.content).toBe(ref.choices[0].text);
    expect(byName.model).toBe(`${MODEL}+r1`);
    expect(byName.choices[0].message.content).not.toBe(base.choices[0].message.content);
    await expect(chat({ ...params, model: `${MODEL}+nope` })).rejects.toMatchObject({ status: 404 });
  });

  it('max_tokens defaults to the rest of the context; max_completion_tokens is its alias', async () => {
    const full = await chat({ messages: HELLO, temperature: 0, ignore_eos: true });
    expect(full.usage!.prompt_tokens + full.usage!.completion_tokens).toBe(512);
    expect(full.choices[0].finish_reason).toBe('length');
    const alias = await chat({ messages: HELLO, max_completion_tokens: 7, ignore_eos: true });
    expect(alias.usage!.completion_tokens).toBe(7);
  });

  it('echo: the reply starts with the last assistant message', async () => {
    const messages = [...HELLO, { role: 'assistant', content: 'Hi' }];
    const res = await chat({ messages, max_tokens: 5, temperature: 0, echo: true, add_generation_prompt: false, ignore_eos: true });
    const ref = await complete({ prompt: chatml(messages, false), max_tokens: 5, temperature: 0, ignore_eos: true });
    expect(res.choices[0].message.content).toBe(`Hi${ref.choices[0].text}`);
    const streamed = await streamChat({ messages, max_tokens: 5, temperature: 0, echo: true, add_generation_prompt: false, ignore_eos: true });
    expect(streamed.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('')).toBe(res.choices[0].message.content);
  });
});

describe('chat errors in OpenAI\'s shape', () => {
  const post = (body: Ext) => postJson(`${server.url}/v1/chat/completions`, { model: MODEL, ...body });

  it.each([
    [{ messages: [] }, 'messages'],
    [{ messages: [{ role: 'robot', content: 'x' }] }, 'messages.0.role'],
    [{ messages: [{ role: 'user', content: 5 }] }, 'messages.0.content'],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages.0.content'],
    [{ messages: HELLO, top_logprobs: 2 }, 'top_logprobs'],
    [{ messages: HELLO, logprobs: true, top_logprobs: 21 }, 'top_logprobs'],
    [{ messages: HELLO, logprobs: true, echo: true }, 'echo'],
    [{ messages: HELLO, max_tokens: 5, max_completion_tokens: 6 }, 'max_completion_tokens'],
    [{ messages: HELLO, tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
    [{ messages: HELLO, response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, 'response_format.json_schema.schema'],
    [{ messages: HELLO, temperature: -1 }, 'temperature'],
    [{ messages: HELLO, n: 17 }, 'n'],
  ])('400 for %j, naming %s', async (body, param) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
    expect(typeof res.body.error.message).toBe('string');
  });

  it('400 when the messages exceed the context, in OpenAI\'s words', async () => {
    const res = await post({ messages: [{ role: 'user', content: 'hello '.repeat(600) }], max_tokens: 4 });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
    expect(res.body.error.message).toMatch(/^This model's maximum context length is 512 tokens\. However, you requested \d+ tokens \(\d+ in the messages, 4 for the completion\)/);
  });

  it('400 when max_tokens does not fit beside the messages', async () => {
    const res = await post({ messages: HELLO, max_tokens: 600 });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'context_length_exceeded', param: 'max_tokens' });
  });

  it('404 for an unknown model; 405 for GET', async () => {
    const res = await post({ model: 'gpt-4o', messages: HELLO });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'model_not_found', param: 'model' });
    const get = await fetch(`${server.url}/v1/chat/completions`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('the openai client raises an APIError with the status', async () => {
    await expect(chat({ messages: HELLO, top_p: 0 })).rejects.toMatchObject({ status: 400 });
  });
});

describe('a model without a chat template', () => {
  let gqa: RunningServer;
  let withTemplate: RunningServer;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unir-chat-'));
    const template = JSON.parse(readFileSync(join(MHA, 'tokenizer_config.json'), 'utf8')).chat_template as string;
    writeFileSync(join(dir, 'chatml.jinja'), template);
    [gqa, withTemplate] = await Promise.all([
      startTestServer(['--model', GQA]),
      startTestServer(['--model', GQA, '--chat-template', join(dir, 'chatml.jinja')]),
    ]);
  });
  afterAll(async () => Promise.all([gqa?.close(), withTemplate?.close()]));

  it('gets a clear 400 naming --chat-template', async () => {
    const res = await postJson(`${gqa.url}/v1/chat/completions`, { model: 'tiny-gqa-f16', messages: HELLO });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request_error');
    expect(res.body.error.message).toMatch(/no chat template.*--chat-template/);
    const tok = await postJson(`${gqa.url}/tokenize`, { messages: HELLO });
    expect(tok.status).toBe(400);
    expect(tok.body.error.message).toMatch(/--chat-template/);
    // Completions still work.
    const cmpl = await postJson(`${gqa.url}/v1/completions`, { model: 'tiny-gqa-f16', prompt: 'Hello', max_tokens: 2 });
    expect(cmpl.status).toBe(200);
  });

  it('chats with --chat-template FILE', async () => {
    const res = await postJson(`${withTemplate.url}/v1/chat/completions`, { model: 'tiny-gqa-f16', messages: HELLO, max_tokens: 6, temperature: 0, ignore_eos: true });
    expect(res.status).toBe(200);
    const ref = await postJson(`${withTemplate.url}/v1/completions`, { model: 'tiny-gqa-f16', prompt: chatml(HELLO), max_tokens: 6, temperature: 0, ignore_eos: true });
    expect(res.body.choices[0].message.content).toBe(ref.body.choices[0].text);
  });
});
