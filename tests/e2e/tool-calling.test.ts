import { Ajv } from 'ajv';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { CHAT_FIXTURES, chatModelDir } from '../helpers/chat-fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

const PARAMS = { type: 'object', properties: { city: { type: 'string', pattern: '^[A-Za-z]{1,10}$' }, unit: { enum: ['c', 'f'] } }, required: ['city', 'unit'], additionalProperties: false };
const TOOLS: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: PARAMS } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { enum: ['utc', 'cet'] } }, required: ['zone'] } } },
];
const validArgs = new Ajv().compile(PARAMS);
const TOOL_TURN: OpenAI.ChatCompletionMessageParam[] = [
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "c"}' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' },
];

describe('tool calling with the hermes syntax on Qwen3\'s tokenizer and template', () => {
  let server: RunningServer;
  let client: OpenAI;
  let model: string;
  beforeAll(async () => {
    server = await startTestServer(['--model', chatModelDir('qwen3')]);
    model = server.ctx.modelId;
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server?.close());

  test('tool_choice "required": the openai client gets tool_calls whose arguments fit the schema, finish_reason tool_calls', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Weather?' }], tools: TOOLS, tool_choice: 'required', temperature: 1, seed, max_tokens: 60, parallel_tool_calls: false });
      const c = r.choices[0];
      expect(c.finish_reason).toBe('tool_calls');
      expect(c.message.tool_calls).toHaveLength(1);
      const call = c.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
      expect(['get_weather', 'get_time']).toContain(call.function.name);
      if (call.function.name === 'get_weather') expect(validArgs(JSON.parse(call.function.arguments))).toBe(true);
    }
  });

  test('a named function, streamed as OpenAI does: a first delta with id, type and name, then argument fragments that the openai stream helper puts together into the plain reply\'s arguments', async () => {
    const body = { model, messages: [{ role: 'user' as const, content: 'Weather?' }], tools: TOOLS, tool_choice: { type: 'function' as const, function: { name: 'get_weather' } }, temperature: 1, seed: 8, max_tokens: 60 };
    const plain = await client.chat.completions.create(body);
    const call = plain.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe('get_weather');
    expect(validArgs(JSON.parse(call.function.arguments))).toBe(true);
    const stream = client.chat.completions.stream(body);
    const fragments: string[] = [];
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    stream.on('tool_calls.function.arguments.delta', (e) => fragments.push(e.arguments_delta));
    stream.on('chunk', (chunk) => deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? [])));
    const final = await stream.finalChatCompletion();
    expect(deltas[0]).toEqual({ index: 0, id: expect.stringMatching(/^call_[0-9a-f]{24}$/), type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(deltas.slice(1).every((d) => d.index === 0 && d.id === undefined && d.function?.name === undefined)).toBe(true);
    // The arguments came in many pieces, as the tokens were sampled, and add up to the plain reply's.
    expect(fragments.length).toBeGreaterThan(3);
    expect(fragments.join('')).toBe(call.function.arguments);
    expect(final.choices[0].finish_reason).toBe('tool_calls');
    const streamed = final.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(streamed.function).toEqual(call.function);
  });

  test('tool_choice "auto" leaves the random model free (its text is content); "none" parses nothing', async () => {
    const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], tools: TOOLS, temperature: 1, seed: 1, max_tokens: 10 });
    expect(r.choices[0].message.tool_calls ?? []).toEqual([]);
    expect(r.choices[0].finish_reason).toBe('length');
    const none = await postJson(`${server.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'Hi' }], tools: TOOLS, tool_choice: 'none', guided_regex: '<tool_call>\n\\{"name": "get_time", "arguments": \\{\\}\\}\n</tool_call>', max_tokens: 40 });
    expect(none.body.choices[0].message.content).toContain('<tool_call>');
    expect(none.body.choices[0].finish_reason).toBe('stop');
  });

  test('an assistant tool call and the tool result reach the template: /tokenize renders what chat prompts with', async () => {
    const tokenized = await postJson(`${server.url}/tokenize`, { model, messages: TOOL_TURN, tools: TOOLS });
    expect(tokenized.status).toBe(200);
    const text = await postJson(`${server.url}/detokenize`, { tokens: tokenized.body.tokens });
    expect(text.body.prompt).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>');
    expect(text.body.prompt).toContain('<tool_response>\n{"temperature": 21}\n</tool_response>');
    const chat = await client.chat.completions.create({ model, messages: TOOL_TURN, tools: TOOLS, max_tokens: 1 });
    expect(chat.usage!.prompt_tokens).toBe(tokenized.body.count);
    const thinking = await postJson(`${server.url}/tokenize`, { model, messages: [{ role: 'user', content: 'Hi' }], chat_template_kwargs: { enable_thinking: false } });
    const off = await postJson(`${server.url}/detokenize`, { tokens: thinking.body.tokens });
    expect(off.body.prompt.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
  });

  test('bad tool requests are 400s naming the field', async () => {
    const chat = (extra: object) => postJson(`${server.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, ...extra });
    expect((await chat({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } })).body.error.param).toBe('tool_choice');
    expect((await chat({ tool_choice: 'required' })).body.error.param).toBe('tool_choice');
    expect((await chat({ tools: TOOLS, tool_choice: 'required', response_format: { type: 'json_object' } })).status).toBe(400);
    const badArgs = await chat({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'x', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] });
    expect(badArgs.body.error.param).toBe('messages.0.tool_calls.0.function.arguments');
    expect((await chat({ chat_template_kwargs: { messages: [] } })).body.error.param).toBe('chat_template_kwargs');
  });
});

describe('tool calling with the Llama 3 JSON syntax', () => {
  test('the package\'s Llama 3.1 template cannot render tools: 400 that says so; a tool template forces llama3_json calls', async () => {
    const plain = await startTestServer(['--model', chatModelDir('llama3_1')]);
    try {
      const r = await postJson(`${plain.url}/v1/chat/completions`, { model: plain.ctx.modelId, messages: [{ role: 'user', content: 'Hi' }], tools: TOOLS, max_tokens: 5 });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ param: 'tools' });
      expect(r.body.error.message).toContain('does not render tools');
    } finally {
      await plain.close();
    }
    const server = await startTestServer(['--model', chatModelDir('llama3_1'), '--chat-template', join(CHAT_FIXTURES, 'llama3_1-json-tools.jinja')]);
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const body = { model: server.ctx.modelId, messages: TOOL_TURN.slice(0, 1), tools: TOOLS, tool_choice: 'required' as const, temperature: 1, seed: 5, max_tokens: 60, parallel_tool_calls: false };
      const r = await client.chat.completions.create(body);
      expect(r.choices[0].finish_reason).toBe('tool_calls');
      const call = r.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
      if (call.function.name === 'get_weather') expect(validArgs(JSON.parse(call.function.arguments))).toBe(true);
      else expect(JSON.parse(call.function.arguments)).toEqual({ zone: expect.stringMatching(/^(utc|cet)$/) });
      // Streamed: argument fragments that the stream helper puts together into the same call.
      const stream = client.chat.completions.stream(body);
      let fragments = 0;
      stream.on('tool_calls.function.arguments.delta', () => fragments++);
      const final = await stream.finalChatCompletion();
      expect(fragments).toBeGreaterThan(1);
      expect((final.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function).toEqual(call.function);
    } finally {
      await server.close();
    }
  }, 180_000);
});
