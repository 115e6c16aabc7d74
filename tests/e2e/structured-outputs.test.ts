import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import type { RunningServer } from '../../server/start.js';
import { chatModelDir } from '../helpers/chat-fixtures.js';
import { sampleJsonSchema, SCHEMA } from '../helpers/json-schema-sampling.js';
import { postJson, startTestServer } from '../helpers/server.js';

let server: RunningServer;
let client: OpenAI;
let model: string;
beforeAll(async () => {
  server = await startTestServer(['--model', chatModelDir('qwen3'), '--reasoning-parser', 'qwen3']);
  model = server.ctx.modelId;
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(() => server?.close());

describe('structured outputs (xgrammar) on a random-weight model with Qwen3\'s tokenizer', () => {
  test('48 sampled json_schema generations at temperature 1 (48 seeds) are all valid for the schema', async () => {
    const outputs = await sampleJsonSchema(client, model, 3, 80);
    const validate = new Ajv().compile(SCHEMA);
    expect(outputs.filter((o) => !validate(JSON.parse(o)))).toEqual([]);
    expect(new Set(outputs).size).toBeGreaterThan(10);
  }, 120_000);

  test('the unconstrained model does not write JSON (the grammar is what makes it valid)', async () => {
    const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Reply with JSON' }], temperature: 1, seed: 5, max_tokens: 30 });
    expect(() => JSON.parse(r.choices[0].message.content!)).toThrow();
  });

  test('openai\'s zod helper: chat.completions.parse returns the parsed object', async () => {
    const Reply = z.object({ color: z.enum(['red', 'green']), count: z.number().int().min(0).max(9) });
    const r = await client.chat.completions.parse({ model, messages: [{ role: 'user', content: 'Pick' }], response_format: zodResponseFormat(Reply, 'reply'), temperature: 1, seed: 2, max_tokens: 40 });
    expect(Reply.parse(r.choices[0].message.parsed)).toEqual(r.choices[0].message.parsed);
  });

  test('json_object, vLLM\'s structured_outputs (regex, choice, grammar) and the older guided_* fields', async () => {
    const chat = (extra: object) => postJson(`${server.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'Go' }], temperature: 1, seed: 9, max_tokens: 40, ...extra });
    const obj = await chat({ response_format: { type: 'json_object' }, max_tokens: 60 });
    expect(obj.status).toBe(200);
    if (obj.body.choices[0].finish_reason === 'stop') expect(typeof JSON.parse(obj.body.choices[0].message.content)).toBe('object');
    else expect(obj.body.choices[0].message.content.startsWith('{')).toBe(true);
    const regex = await chat({ structured_outputs: { regex: '[0-9]{3}-[a-z]{2}' } });
    expect(regex.body.choices[0].message.content).toMatch(/^[0-9]{3}-[a-z]{2}$/);
    const choice = await chat({ guided_choice: ['yes', 'no', 'maybe'], n: 8 });
    for (const c of choice.body.choices) expect(['yes', 'no', 'maybe']).toContain(c.message.content);
    const grammar = await chat({ structured_outputs: { grammar: 'root ::= "(" [a-c]+ ")"' }, max_tokens: 12 });
    const g = grammar.body.choices[0];
    expect(g.message.content).toMatch(g.finish_reason === 'stop' ? /^\([a-c]+\)$/ : /^\([a-c]*$/);
    const older = await chat({ guided_json: { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['n'] } });
    expect(JSON.parse(older.body.choices[0].message.content)).toEqual({ n: expect.any(Number) });
  });

  test('completions take the same constraints; streaming returns the same text', async () => {
    const body = { model, prompt: 'Answer:', guided_regex: '(true|false), [0-9]', temperature: 1, seed: 4, max_tokens: 10 };
    const plain = await postJson(`${server.url}/v1/completions`, body);
    expect(plain.body.choices[0].text).toMatch(/^(true|false), [0-9]$/);
    const streamed = await client.completions.create({ ...body, stream: true } as never) as unknown as AsyncIterable<{ choices: { text: string }[] }>;
    let text = '';
    for await (const c of streamed) text += c.choices[0]?.text ?? '';
    expect(text).toBe(plain.body.choices[0].text);
  });

  test('a schema xgrammar cannot compile, two constraints at once, and contradicting options are 400s naming the field', async () => {
    const chat = (extra: object) => postJson(`${server.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'Go' }], max_tokens: 5, ...extra });
    const bad = await chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'objec' } } } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_request', param: 'response_format.json_schema.schema' });
    expect(bad.body.error.message).toContain('Unsupported type "objec"');
    const regex = await chat({ structured_outputs: { regex: '[a-z' } });
    expect(regex.status).toBe(400);
    expect(regex.body.error.param).toBe('structured_outputs.regex');
    const two = await chat({ response_format: { type: 'json_object' }, guided_regex: 'a' });
    expect(two.status).toBe(400);
    const minTokens = await chat({ response_format: { type: 'json_object' }, min_tokens: 2 });
    expect(minTokens.body.error.param).toBe('min_tokens');
    // The server still serves after the refusals.
    expect((await chat({ guided_choice: ['a'] })).body.choices[0].message.content).toBe('a');
  });

  test('reasoning parser qwen3: <think>...</think> becomes reasoning_content, plain and streamed', async () => {
    const body = { model, messages: [{ role: 'user', content: 'Think' }], structured_outputs: { regex: '<think>\n[a-z]{2,8}\n</think>\n\n[A-Z][a-z]{1,5}' }, temperature: 1, seed: 3, max_tokens: 30 };
    const plain = await postJson(`${server.url}/v1/chat/completions`, body);
    const message = plain.body.choices[0].message;
    expect(message.reasoning_content).toMatch(/^\n[a-z]{2,8}\n$/);
    expect(message.content).toMatch(/^\n\n[A-Z][a-z]{1,5}$/);
    const stream = await client.chat.completions.create({ ...body, stream: true } as never) as unknown as AsyncIterable<{ choices: { delta: { content?: string; reasoning_content?: string } }[] }>;
    let reasoning = '';
    let content = '';
    for await (const c of stream) {
      reasoning += c.choices[0]?.delta.reasoning_content ?? '';
      content += c.choices[0]?.delta.content ?? '';
    }
    expect({ reasoning, content }).toEqual({ reasoning: message.reasoning_content, content: message.content });
  });
});
