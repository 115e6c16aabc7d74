import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { FIXTURES, references, servedText } from '../helpers/fixtures.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

const MODEL = 'tiny-mha-f32';
let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer([
    '--reasoners-dir', join(FIXTURES, 'reasoners'),
    '--reasoner', join(FIXTURES, 'incompatible', 'bad-tokenizer'),
    '--reasoner', join(FIXTURES, 'faulty', 'r-fails'),
  ]);
});
afterAll(async () => server.close());

const complete = (body: Record<string, unknown>) =>
  postJson(`${server.url}/v1/completions`, { model: MODEL, temperature: 0, ignore_eos: true, ...body });

describe('reasoning modules over HTTP', () => {
  it('GET /v1/reasoners lists the loaded modules, and the refused one with its reason', async () => {
    const res = await fetch(`${server.url}/v1/reasoners`);
    const list = ((await res.json()) as { data: { name: string; state: string; version: string; default_weight: number; error: string | null }[] }).data;
    const byName = Object.fromEntries(list.map((r) => [r.name, r]));
    expect(byName.r1).toMatchObject({ state: 'ready', version: '1.0.0', default_weight: 1 });
    expect(byName.r2.state).toBe('ready');
    expect(byName['r-fails'].state).toBe('ready');
    expect(byName['bad-tokenizer'].state).toBe('failed');
    expect(byName['bad-tokenizer'].error).toMatch(/tokenizers differ on \d+ shared token ids/);
  });

  it.each(['r1', 'r2', 'r1+r2'])('%s: greedy tokens equal PyTorch\'s fused greedy continuation', async (combo) => {
    const weights = references.fused_weights[combo];
    for (const ref of references.fused[combo]) {
      const reasoners = Object.entries(weights).map(([name, weight]) => ({ name, weight }));
      const res = await complete({ prompt: ref.prompt_ids, max_tokens: ref.greedy_ids.length, reasoners });
      expect(res.status).toBe(200);
      expect(res.body.choices[0].text).toBe(servedText(ref.greedy_ids));
    }
  });

  it('the model id BASE+r1 selects r1 with its default weight', async () => {
    const ref = references.fused.r1[0];
    const res = await complete({ model: `${MODEL}+r1`, prompt: ref.prompt_ids, max_tokens: ref.greedy_ids.length });
    expect(res.body.choices[0].text).toBe(servedText(ref.greedy_ids));
    expect(res.body.model).toBe(`${MODEL}+r1`);
  });

  it('weight 0 equals the base alone, logprobs included', async () => {
    const body = { prompt: 'once upon a time', max_tokens: 12, temperature: 0.8, seed: 3, logprobs: 3 };
    const alone = await complete(body);
    const zero = await complete({ ...body, reasoners: [{ name: 'r1', weight: 0 }, { name: 'r2', weight: 0 }] });
    expect(zero.body.choices[0].text).toBe(alone.body.choices[0].text);
    expect(zero.body.choices[0].logprobs).toEqual(alone.body.choices[0].logprobs);
    const withR1 = await complete({ ...body, reasoners: [{ name: 'r1', weight: 1 }] });
    expect(withR1.body.choices[0].logprobs).not.toEqual(alone.body.choices[0].logprobs);
  });

  it('the order of modules changes nothing (seeded sampling, logprobs bit for bit)', async () => {
    const body = { prompt: 'Hello world', max_tokens: 16, temperature: 1, seed: 11, logprobs: 5 };
    const a = await complete({ ...body, reasoners: [{ name: 'r1', weight: 1 }, { name: 'r2', weight: 0.5 }] });
    const b = await complete({ ...body, reasoners: [{ name: 'r2', weight: 0.5 }, { name: 'r1', weight: 1 }] });
    expect(a.body.choices[0]).toEqual(b.body.choices[0]);
  });

  it('an unknown module is 404 naming the loaded ones; a refused module is not servable', async () => {
    const res = await complete({ prompt: 'x', reasoners: [{ name: 'nope' }] });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'reasoner_not_found', param: 'reasoners' });
    expect(res.body.error.message).toMatch(/loaded: .*r1.*r2/);
    const bad = await complete({ model: `${MODEL}+bad-tokenizer`, prompt: 'x' });
    expect(bad.status).toBe(404);
  });

  it('naming modules in both the model id and the field is a 400', async () => {
    const res = await complete({ model: `${MODEL}+r1`, prompt: 'x', reasoners: [{ name: 'r2' }] });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('reasoners');
  });

  it('a module failing at run time fails only the requests that use it', async () => {
    const ok = references.fused.r1[1];
    const [failing, failingStream, fine, plain] = await Promise.all([
      complete({ prompt: 'Hello world', max_tokens: 8, reasoners: [{ name: 'r-fails' }] }),
      complete({ prompt: 'Hello world', max_tokens: 8, reasoners: [{ name: 'r-fails' }], stream: true }),
      complete({ prompt: ok.prompt_ids, max_tokens: ok.greedy_ids.length, reasoners: [{ name: 'r1' }] }),
      complete({ prompt: references.models[MODEL][0].prompt, max_tokens: 8 }),
    ]);
    expect(failing.status).toBe(500);
    expect(failing.body.error).toMatchObject({ code: 'reasoner_failed', type: 'server_error' });
    expect(failing.body.error.message).toMatch(/r-fails/);
    const frames = parseSse(failingStream.body as string);
    expect(frames.some((f) => typeof f === 'object' && f !== null && 'error' in f)).toBe(true);
    expect(frames.at(-1)).toBe('[DONE]');
    expect(fine.body.choices[0].text).toBe(servedText(ok.greedy_ids));
    expect(plain.body.choices[0].text).toBe(servedText(references.models[MODEL][0].greedy_ids));
  });

  it('the openai client selects modules through the model id', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
    const ref = references.fused.r2[2];
    const res = await client.completions.create({ model: `${MODEL}+r2`, prompt: ref.prompt, max_tokens: ref.greedy_ids.length, temperature: 0, ignore_eos: true } as never);
    expect((res as OpenAI.Completion).choices[0].text).toBe(servedText(ref.greedy_ids));
  });
});

describe('--default-reasoners', () => {
  let withDefaults: RunningServer;
  beforeAll(async () => {
    withDefaults = await startTestServer(['--reasoners-dir', join(FIXTURES, 'reasoners'), '--default-reasoners', 'r1']);
  });
  afterAll(async () => withDefaults.close());

  it('applies the defaults when a request names no module, and none when it names an empty list', async () => {
    const ref = references.fused.r1[0];
    const post = (extra: object) => postJson(`${withDefaults.url}/v1/completions`, { model: MODEL, prompt: ref.prompt_ids, max_tokens: ref.greedy_ids.length, temperature: 0, ignore_eos: true, ...extra });
    expect((await post({})).body.choices[0].text).toBe(servedText(ref.greedy_ids));
    const baseRef = references.models[MODEL].find((r) => r.prompt === ref.prompt)!;
    expect((await post({ reasoners: [] })).body.choices[0].text).toBe(servedText(baseRef.greedy_ids));
  });
});
