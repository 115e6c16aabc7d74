import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { references, type PromptReference } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * The sampling parameters end to end, on /v1/completions and /v1/chat/completions. Where a parameter changes
 * greedy decoding, the expected tokens are computed here from PyTorch's logits along the greedy path
 * (references.json step_logits): valid up to and including the first token where the result departs from it.
 */
const MODEL = 'tiny-mha-f32';
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer();
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
});
afterAll(async () => server.close());

type Ext = Record<string, unknown>;
const refs = references.models[MODEL];
const complete = (params: Ext) => client.completions.create({ model: MODEL, ...params } as never) as Promise<OpenAI.Completion>;
const chat = (params: Ext) => client.chat.completions.create({ model: MODEL, ...params } as never) as Promise<OpenAI.Chat.Completions.ChatCompletion>;
const HELLO = [{ role: 'user', content: 'Hello world' }];
const decode = (ids: number[]) => server.ctx.tokenizer.decode(ids);

function argmax(z: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < z.length; i++) if (z[i] > z[best]) best = i;
  return best;
}

type Penalize = (z: number[], seen: Set<number>, counts: Map<number, number>) => void;

/** Greedy decoding under a penalty, by hand: the tokens up to the first one that differs from plain greedy. */
function expectedUnder(ref: PromptReference, penalize: Penalize): number[] {
  const out: number[] = [];
  for (let k = 0; k < ref.greedy_ids.length; k++) {
    const counts = new Map<number, number>();
    for (const t of out) counts.set(t, (counts.get(t) ?? 0) + 1);
    const z = [...ref.step_logits[k]];
    penalize(z, new Set([...ref.prompt_ids, ...out]), counts);
    const next = argmax(z);
    out.push(next);
    if (next !== ref.greedy_ids[k]) return out;
  }
  throw new Error('the penalty does not change greedy decoding on this prompt: the test would prove nothing');
}

describe('sampling parameters on /v1/completions', () => {
  const ref = refs[1];
  const greedy = { prompt: ref.prompt, temperature: 0, ignore_eos: true };

  it('temperature 0 is greedy: PyTorch\'s tokens', async () => {
    const res = await complete({ ...greedy, max_tokens: 8 });
    expect(res.choices[0].text).toBe(ref.greedy_text);
  });

  it('top_k 1, a tiny top_p, and min_p 1 each leave only the most likely token, at any temperature and seed', async () => {
    for (const extra of [{ top_k: 1 }, { top_p: 1e-6 }, { min_p: 1 }]) {
      const res = await complete({ prompt: ref.prompt, max_tokens: 8, temperature: 1.5, seed: 123, ignore_eos: true, ...extra });
      expect(res.choices[0].text, JSON.stringify(extra)).toBe(ref.greedy_text);
    }
    const free = await complete({ prompt: ref.prompt, max_tokens: 8, temperature: 1.5, seed: 123, ignore_eos: true });
    expect(free.choices[0].text).not.toBe(ref.greedy_text);
  });

  it('repetition_penalty < 1 favours prompt tokens, as computed by hand', async () => {
    const r = refs[2];
    const ids = expectedUnder(r, (z, seen) => {
      for (const id of seen) z[id] = z[id] > 0 ? z[id] / 0.5 : z[id] * 0.5;
    });
    const res = await complete({ prompt: r.prompt, temperature: 0, ignore_eos: true, repetition_penalty: 0.5, max_tokens: ids.length });
    expect(res.choices[0].text).toBe(decode(ids));
  });

  it('presence_penalty and frequency_penalty (negative: encourage repeats), as computed by hand', async () => {
    const r = refs[2];
    const presence = expectedUnder(r, (z, _seen, counts) => {
      for (const id of counts.keys()) z[id] -= -2;
    });
    const p = await complete({ prompt: r.prompt, temperature: 0, ignore_eos: true, presence_penalty: -2, max_tokens: presence.length });
    expect(p.choices[0].text).toBe(decode(presence));
    const r1 = refs[1];
    const frequency = expectedUnder(r1, (z, _seen, counts) => {
      for (const [id, n] of counts) z[id] -= -1.5 * n;
    });
    const f = await complete({ prompt: r1.prompt, temperature: 0, ignore_eos: true, frequency_penalty: -1.5, max_tokens: frequency.length });
    expect(f.choices[0].text).toBe(decode(frequency));
  });

  it('logit_bias: +100 forces a token, -100 forbids one', async () => {
    const forced = await complete({ ...greedy, max_tokens: 5, logit_bias: { '97': 100 } });
    expect(forced.choices[0].text).toBe('aaaaa');
    const g0 = ref.greedy_ids[0];
    const z = [...ref.step_logits[0]];
    z[g0] -= 100;
    const banned = await complete({ ...greedy, max_tokens: 1, logit_bias: { [String(g0)]: -100 } });
    expect(banned.choices[0].text).toBe(decode([argmax(z)]));
  });

  it('seed: the same seed repeats the text; n choices use seed + i', async () => {
    const params = { prompt: 'Hello', max_tokens: 12, temperature: 1, ignore_eos: true };
    const many = await complete({ ...params, seed: 70, n: 3 });
    const singles = await Promise.all([70, 71, 72].map((seed) => complete({ ...params, seed })));
    expect(many.choices.map((c) => c.text)).toEqual(singles.map((s) => s.choices[0].text));
    expect(new Set(singles.map((s) => s.choices[0].text)).size).toBe(3);
  });

  it('stop strings (up to 4) end the text before the match; stop_reason names it', async () => {
    const text = ref.greedy_text;
    const res = await postJson(`${server.url}/v1/completions`, { model: MODEL, ...greedy, max_tokens: 8, stop: ['zzzz', text.slice(5, 7), 'yy', 'xx'] });
    expect(res.body.choices[0].text).toBe(text.slice(0, text.indexOf(text.slice(5, 7))));
    expect(res.body.choices[0].finish_reason).toBe('stop');
    expect(res.body.choices[0].stop_reason).toBe(text.slice(5, 7));
  });

  it('stop_token_ids end generation at the token (not returned); min_tokens blocks them until reached', async () => {
    const stopId = ref.greedy_ids[2];
    const res = await postJson(`${server.url}/v1/completions`, { model: MODEL, ...greedy, max_tokens: 8, stop_token_ids: [stopId] });
    expect(res.body.choices[0]).toMatchObject({ text: decode(ref.greedy_ids.slice(0, 2)), finish_reason: 'stop', stop_reason: stopId });
    expect(res.body.usage.completion_tokens).toBe(3);
    // With min_tokens 4 the stop token cannot be the third token: the next best is taken instead.
    const z = [...ref.step_logits[2]];
    z[stopId] = -Infinity;
    const held = await postJson(`${server.url}/v1/completions`, { model: MODEL, ...greedy, max_tokens: 3, min_tokens: 3, stop_token_ids: [stopId] });
    expect(held.body.choices[0].text).toBe(decode([...ref.greedy_ids.slice(0, 2), argmax(z)]));
    expect(held.body.choices[0].finish_reason).toBe('length');
  });

  it('ignore_eos: EOS ends generation unless ignored; min_tokens delays it', async () => {
    const eos = server.ctx.tokenizer.eosTokenIds[0];
    const bias = { [String(eos)]: 100 };
    const stops = await complete({ prompt: ref.prompt, temperature: 0, max_tokens: 8, logit_bias: bias });
    expect(stops.choices[0]).toMatchObject({ text: '', finish_reason: 'stop' });
    expect(stops.usage!.completion_tokens).toBe(1);
    const ignored = await complete({ prompt: ref.prompt, temperature: 0, max_tokens: 8, logit_bias: bias, ignore_eos: true });
    expect(ignored.choices[0].finish_reason).toBe('length');
    expect(ignored.usage!.completion_tokens).toBe(8);
    const delayed = await complete({ prompt: ref.prompt, temperature: 0, max_tokens: 8, logit_bias: bias, min_tokens: 3 });
    expect(delayed.choices[0].finish_reason).toBe('stop');
    expect(delayed.usage!.completion_tokens).toBe(4);
  });

  it('max_tokens bounds the completion', async () => {
    const res = await complete({ ...greedy, max_tokens: 3 });
    expect(res.usage!.completion_tokens).toBe(3);
    expect(res.choices[0].text).toBe(decode(ref.greedy_ids.slice(0, 3)));
  });

  it('logprobs: log-softmax of the fused logits (PyTorch\'s), with top alternatives, before temperature', async () => {
    const res = await complete({ prompt: ref.prompt, max_tokens: 1, temperature: 0, logprobs: 3 });
    const z = ref.step_logits[0];
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    const lp = res.choices[0].logprobs!;
    expect(lp.token_logprobs![0]).toBeCloseTo(z[ref.greedy_ids[0]] - lse, 4);
    const order = z.map((v, id) => ({ v, id })).sort((a, b) => b.v - a.v).slice(0, 3);
    const top = lp.top_logprobs![0];
    expect(Object.values(top)).toHaveLength(3);
    const expectedTop = order.map((o) => o.v - lse);
    expect(Object.values(top).sort((a, b) => b - a).map((v) => v.toFixed(4))).toEqual(expectedTop.map((v) => v.toFixed(4)));
    // Temperature changes the draw, not the reported distribution.
    const hot = await complete({ prompt: ref.prompt, max_tokens: 1, temperature: 1.8, seed: 1, logprobs: 3 });
    expect(hot.choices[0].logprobs!.top_logprobs![0]).toEqual(top);
  });

  it('echo prepends the prompt; echo with logprobs is refused', async () => {
    const res = await complete({ ...greedy, max_tokens: 4, echo: true });
    expect(res.choices[0].text).toBe(ref.prompt + decode(ref.greedy_ids.slice(0, 4)));
    const bad = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'x', echo: true, logprobs: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('echo');
  });
});

describe('the same parameters on /v1/chat/completions', () => {
  const rendered = '<|im_start|>user\nHello world<|im_end|>\n<|im_start|>assistant\n';
  const same = async (params: Ext) => {
    const c = await chat({ messages: HELLO, ignore_eos: true, ...params });
    const p = await complete({ prompt: rendered, ignore_eos: true, ...params });
    expect(c.choices.map((x) => x.message.content), JSON.stringify(params)).toEqual(p.choices.map((x) => x.text));
    expect(c.choices.map((x) => x.finish_reason)).toEqual(p.choices.map((x) => x.finish_reason));
    return c;
  };

  it('every sampling field gives the chat reply the completion of the rendered prompt would get', async () => {
    await same({ max_tokens: 10, temperature: 0.8, seed: 5 });
    await same({ max_tokens: 10, temperature: 1.2, seed: 5, top_k: 5, top_p: 0.9, min_p: 0.05 });
    await same({ max_tokens: 10, temperature: 0, repetition_penalty: 0.5, presence_penalty: -1, frequency_penalty: 0.5 });
    await same({ max_tokens: 6, temperature: 0, logit_bias: { '98': 100 } });
    await same({ max_tokens: 10, temperature: 1, seed: 8, n: 3 });
    await same({ max_tokens: 10, temperature: 0, stop_token_ids: [98], logit_bias: { '98': 5 }, min_tokens: 2 });
    const stopped = await same({ max_tokens: 6, temperature: 0, logit_bias: { '98': 100 }, stop: ['bbb'] });
    expect(stopped.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: '' } });
  });

  it('ignore_eos defaults to false: the chat stops at EOS', async () => {
    const eos = server.ctx.tokenizer.eosTokenIds[0];
    const res = await chat({ messages: HELLO, max_tokens: 5, logit_bias: { [String(eos)]: 100 } });
    expect(res.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: '' } });
  });
});

describe('an invalid value gets 400 naming the parameter, on both endpoints', () => {
  const cases: [Ext, string][] = [
    [{ temperature: 2.5 }, 'temperature'],
    [{ temperature: 'hot' }, 'temperature'],
    [{ top_p: 0 }, 'top_p'],
    [{ top_p: 1.5 }, 'top_p'],
    [{ top_k: -2 }, 'top_k'],
    [{ top_k: 1.5 }, 'top_k'],
    [{ min_p: 1.1 }, 'min_p'],
    [{ repetition_penalty: 0 }, 'repetition_penalty'],
    [{ presence_penalty: 2.5 }, 'presence_penalty'],
    [{ frequency_penalty: -2.5 }, 'frequency_penalty'],
    [{ logit_bias: { abc: 1 } }, 'logit_bias'],
    [{ logit_bias: { '5': 101 } }, 'logit_bias'],
    [{ logit_bias: { '100000': 1 } }, 'logit_bias'],
    [{ seed: 1.5 }, 'seed'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    [{ stop: 5 }, 'stop'],
    [{ stop_token_ids: [-1] }, 'stop_token_ids'],
    [{ stop_token_ids: [100000] }, 'stop_token_ids'],
    [{ max_tokens: 0 }, 'max_tokens'],
    [{ min_tokens: -1 }, 'min_tokens'],
    [{ min_tokens: 9, max_tokens: 8 }, 'min_tokens'],
    [{ ignore_eos: 'yes' }, 'ignore_eos'],
    [{ n: 0 }, 'n'],
    [{ n: 17 }, 'n'],
    [{ stream: 1 }, 'stream'],
  ];
  for (const endpoint of ['completions', 'chat/completions'] as const) {
    it.each(cases)(`${endpoint}: %j → %s`, async (bad, param) => {
      const input = endpoint === 'completions' ? { prompt: 'Hi' } : { messages: HELLO };
      const res = await postJson(`${server.url}/v1/${endpoint}`, { model: MODEL, ...input, max_tokens: 4, ...bad });
      expect(res.status).toBe(400);
      expect(res.body.error.type).toBe('invalid_request_error');
      expect(res.body.error.param === param || res.body.error.param.startsWith(`${param}.`), `param ${res.body.error.param}`).toBe(true);
      expect(res.body.error.message).toContain(param);
    });
  }

  it('completions: logprobs above 20', async () => {
    const res = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'Hi', logprobs: 21 });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('logprobs');
  });
});
