import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningServer } from '../../server/start.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/**
 * Attribution against values computed by hand. The bigram fixture (training/make_bigram_fixture.py) has logits
 * that depend on the last token only, from two hand-written tables over a 307-token vocabulary (unlisted logits 0):
 *   after 'a': base b=3 c=2,  module b=-1 c=2
 *   after 'b': base d=1,      module d=1
 *   after 'c': base e=1.5,    module e=0.5 f=1
 *   after 'd': base h=1;  after 'e': base g=1;  after 'h': base <|endoftext|>=2 (module 0)
 */
const V = 307;
const [a, b, c, d, e, f, g, h] = [97, 98, 99, 100, 101, 102, 103, 104];
/** ln Σ exp over a row of V logits that are 0 except `listed`. */
const lse = (...listed: number[]) => Math.log(V - listed.length + listed.reduce((s, x) => s + Math.exp(x), 0));
/** Entropy in nats of such a row: ln Z - Σ p_i z_i. */
const entropyOf = (...listed: number[]) => lse(...listed) - listed.reduce((s, x) => s + x * Math.exp(x - lse(...listed)), 0);

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer(['--model', join(FIXTURES, 'bigram', 'base'), '--served-model-name', 'bigram', '--reasoners-dir', join(FIXTURES, 'bigram', 'reasoners')]);
});
afterAll(async () => server.close());

const request = (extra: Json = {}) => ({ model: 'bigram+nudge', prompt: [a], max_tokens: 3, temperature: 0, return_attribution: true, ...extra });

/** Each generated token's expected entry with weight w on the module: 'a' -> 'c' -> 'e' -> 'g'. */
function expectedEntries(w: number) {
  return [
    { token_id: c, token: 'c', base_top: { token_id: b, token: 'b', logprob: 3 - lse(3, 2) }, fused_top: { token_id: c, token: 'c', logprob: 2 + 2 * w - lse(3 - w, 2 + 2 * w) }, changed: true, base_entropy: entropyOf(3, 2), modules: [{ name: 'nudge', weight: w, chosen: 2 * w, base_top: -w, skipped: false }] },
    { token_id: e, token: 'e', base_top: { token_id: e, token: 'e', logprob: 1.5 - lse(1.5) }, fused_top: { token_id: e, token: 'e', logprob: 1.5 + 0.5 * w - lse(1.5 + 0.5 * w, w) }, changed: false, base_entropy: entropyOf(1.5), modules: [{ name: 'nudge', weight: w, chosen: 0.5 * w, base_top: 0.5 * w, skipped: false }] },
    { token_id: g, token: 'g', base_top: { token_id: g, token: 'g', logprob: 1 - lse(1) }, fused_top: { token_id: g, token: 'g', logprob: 1 - lse(1) }, changed: false, base_entropy: entropyOf(1), modules: [{ name: 'nudge', weight: w, chosen: 0, base_top: 0, skipped: false }] },
  ];
}

/** Deep comparison with numbers within 1e-5 (the fixture's RMSNorm eps scales logits by 1 - 5e-7). */
function expectClose(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number') {
    expect(typeof actual, path).toBe('number');
    expect(Math.abs((actual as number) - expected), `${path}: ${actual} vs ${expected}`).toBeLessThan(1e-5);
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, path).toBe(expected.length);
    expected.forEach((x, i) => expectClose((actual as unknown[])[i], x, `${path}[${i}]`));
  } else if (expected && typeof expected === 'object') {
    expect(Object.keys(actual as object).sort(), path).toEqual(Object.keys(expected).sort());
    for (const [k, v] of Object.entries(expected)) expectClose((actual as Json)[k], v, `${path}.${k}`);
  } else expect(actual, path).toBe(expected);
}

describe('attribution (return_attribution) against hand-computed values', () => {
  it('completions: one entry per token, with weight 1 and with weight 0.5; usage counts the changed tokens', async () => {
    const one = await postJson(`${server.url}/v1/completions`, request());
    expect(one.status).toBe(200);
    expect(one.body.choices[0].text).toBe('ceg');
    expectClose(one.body.choices[0].attribution, expectedEntries(1));
    expect(one.body.usage.attribution).toEqual({ tokens: 3, changed: 1 });

    const half = await postJson(`${server.url}/v1/completions`, request({ model: 'bigram', reasoners: [{ name: 'nudge', weight: 0.5 }] }));
    expectClose(half.body.choices[0].attribution, expectedEntries(0.5));
  });

  it('the chosen token is the sampled one, after processors: a logit_bias makes it differ from the fused top', async () => {
    // 'f' forced at the first step: fused top stays 'c' (attribution reads the fused logits before processors).
    const res = await postJson(`${server.url}/v1/completions`, request({ max_tokens: 1, logit_bias: { [f]: 100 } }));
    const [entry] = res.body.choices[0].attribution;
    expectClose(entry, { ...expectedEntries(1)[0], token_id: f, token: 'f', modules: [{ name: 'nudge', weight: 1, chosen: 0, base_top: -1, skipped: false }] });
  });

  it('costs nothing when not asked: no attribution fields at all', async () => {
    const res = await postJson(`${server.url}/v1/completions`, request({ return_attribution: undefined }));
    expect(res.body.choices[0].text).toBe('ceg');
    expect(res.body.choices[0]).not.toHaveProperty('attribution');
    expect(res.body.usage).not.toHaveProperty('attribution');
  });

  it('a base-only request: every token attributed, no module, nothing changed', async () => {
    const res = await postJson(`${server.url}/v1/completions`, request({ model: 'bigram' }));
    expect(res.body.choices[0].text).toBe('bdh');
    expect(res.body.choices[0].attribution.map((x: Json) => [x.token_id, x.base_top.token_id, x.changed, x.modules])).toEqual([[b, b, false, []], [d, d, false, []], [h, h, false, []]]);
    expect(res.body.usage.attribution).toEqual({ tokens: 3, changed: 0 });
  });

  it('with logprobs: attribution per sampled token (stop-string token and EOS included), logprobs the returned text only', async () => {
    // 'a' -> 'c' -> 'e' with stop 'e': text 'c', the stop string's token has an entry but no logprob.
    const stopped = await postJson(`${server.url}/v1/completions`, request({ stop: ['e'], logprobs: 1 }));
    expect(stopped.body.choices[0]).toMatchObject({ text: 'c', finish_reason: 'stop' });
    expect(stopped.body.choices[0].attribution.map((x: Json) => x.token_id)).toEqual([c, e]);
    expect(stopped.body.choices[0].logprobs.tokens).toEqual(['c']);
    const res = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request({ stop: ['e'], logprobs: 1, stream: true })) });
    const chunks = parseSse(await res.text()).filter((x): x is Json => x !== '[DONE]');
    expect(chunks.flatMap((x) => x.choices.flatMap((ch: Json) => ch.attribution ?? [])).map((x: Json) => x.token_id)).toEqual([c, e]);
    expect(chunks.flatMap((x) => x.choices.flatMap((ch: Json) => ch.logprobs?.tokens ?? []))).toEqual(['c']);

    // A prompt list: each prompt's choice has its own entries; 'd' -> 'h' -> EOS, whose entry has no logprob.
    const list = await postJson(`${server.url}/v1/completions`, request({ prompt: [[a], [d]], logprobs: 0 }));
    expectClose(list.body.choices[0].attribution, expectedEntries(1));
    expect(list.body.choices[1]).toMatchObject({ text: 'h', finish_reason: 'stop' });
    expect(list.body.choices[1].attribution.map((x: Json) => x.token_id)).toEqual([h, 304]);
    expect(list.body.choices[1].logprobs.tokens).toEqual(['h']);
    expect(list.body.usage.attribution).toEqual({ tokens: 5, changed: 1 });
  });

  it('streamed completions carry the same entries, one per chunk, and the summary in the usage chunk', async () => {
    const res = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request({ stream: true, stream_options: { include_usage: true } })) });
    const chunks = parseSse(await res.text()).filter((x): x is Json => x !== '[DONE]');
    const entries = chunks.flatMap((x) => x.choices.flatMap((ch: Json) => ch.attribution ?? []));
    expectClose(entries, expectedEntries(1));
    expect(chunks.at(-1)!.usage.attribution).toEqual({ tokens: 3, changed: 1 });
  });

  it('chat (plain, streamed with the openai SDK) gives the entries of the same prompt as a completion', async () => {
    const messages = [{ role: 'user' as const, content: 'a' }];
    const ids = (await postJson(`${server.url}/tokenize`, { model: 'bigram', messages })).body.tokens;
    const completion = await postJson(`${server.url}/v1/completions`, request({ prompt: ids, max_tokens: 4 }));
    const want = completion.body.choices[0].attribution;
    // The prompt ends with '\n' (10 = 2 mod 8): 'd', 'h', then EOS, whose entry comes last (its text is not returned).
    expect(completion.body.choices[0]).toMatchObject({ text: 'dh', finish_reason: 'stop' });
    expect(want.map((x: Json) => x.token_id)).toEqual([d, h, 304]);
    expectClose(want[2].fused_top, { token_id: 304, token: '<|endoftext|>', logprob: 2 - lse(2) });
    const chat = await postJson(`${server.url}/v1/chat/completions`, { model: 'bigram+nudge', messages, max_tokens: 4, temperature: 0, return_attribution: true });
    expect(chat.body.choices[0].attribution).toEqual(want);
    expect(chat.body.usage.attribution).toEqual(completion.body.usage.attribution);

    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none' });
    const stream = await client.chat.completions.create({ model: 'bigram+nudge', messages, max_tokens: 4, temperature: 0, stream: true, stream_options: { include_usage: true }, return_attribution: true } as never);
    const streamed: Json[] = [];
    let usage: Json | undefined;
    for await (const chunk of stream as unknown as AsyncIterable<Json>) {
      for (const ch of chunk.choices) streamed.push(...(ch.attribution ?? []));
      if (chunk.usage) usage = chunk.usage;
    }
    expect(streamed).toEqual(want);
    expect(usage!.attribution).toEqual(completion.body.usage.attribution);
  });

  it('WebSocket: each token frame carries its entry; the done frame the summary', async () => {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/v1/stream`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const frames: Json[] = [];
    const done = new Promise<Json>((resolve) =>
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString()) as Json;
        frames.push(m);
        if (m.type === 'done') resolve(m);
      }),
    );
    ws.send(JSON.stringify({ type: 'generate', id: 'x', ...request() }));
    const last = await done;
    ws.close();
    const tokens = frames.filter((m) => m.type === 'token');
    expect(tokens.every((m) => m.attribution.length === 1)).toBe(true);
    expectClose(tokens.flatMap((m) => m.attribution), expectedEntries(1));
    expect(last.usage.attribution).toEqual({ tokens: 3, changed: 1 });
  });

  it('with an entropy gate: a closed step fuses the base alone and marks the module skipped; usage.reasoner_gate counts it', async () => {
    // Between the entropy after 'a' (the lowest) and after 'b': the first step closes, the later ones open.
    const threshold = (entropyOf(3, 2) + entropyOf(1.5)) / 2;
    expect(entropyOf(1)).toBeGreaterThan(threshold);
    const res = await postJson(`${server.url}/v1/completions`, request({ reasoner_gate: { entropy: threshold } }));
    expect(res.status).toBe(200);
    // Step 1 closed: the base's 'b'. Step 2 opens after 'b': the module catches up 'a b' and adds d=1: 'd'. Then 'h'.
    expect(res.body.choices[0].text).toBe('bdh');
    const entries = res.body.choices[0].attribution;
    expectClose(entries[0].modules, [{ name: 'nudge', weight: 1, chosen: 0, base_top: 0, skipped: true }]);
    expectClose(entries[1].modules, [{ name: 'nudge', weight: 1, chosen: 1, base_top: 1, skipped: false }]);
    expectClose(entries[1].fused_top.logprob, 2 - lse(2));
    expect(res.body.usage.reasoner_gate).toEqual({ module_steps: 3, skipped: 1, caught_up_tokens: 3 });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/unir_reasoner_gate_module_steps_total\{outcome="run"\} 2\n/);
    expect(metrics).toMatch(/unir_reasoner_gate_module_steps_total\{outcome="skipped"\} 1\n/);
  });

  it('--reasoner-gate is the default threshold; a request overrides it, and {entropy: 0} runs the modules at every step', async () => {
    const threshold = (entropyOf(3, 2) + entropyOf(1.5)) / 2;
    const gated = await startTestServer(['--model', join(FIXTURES, 'bigram', 'base'), '--served-model-name', 'bigram', '--reasoners-dir', join(FIXTURES, 'bigram', 'reasoners'), '--reasoner-gate', String(threshold)]);
    try {
      const byDefault = await postJson(`${gated.url}/v1/completions`, request({ return_attribution: undefined }));
      expect(byDefault.body.choices[0].text).toBe('bdh');
      expect(byDefault.body.usage.reasoner_gate).toEqual({ module_steps: 3, skipped: 1, caught_up_tokens: 3 });
      const everyStep = await postJson(`${gated.url}/v1/completions`, request({ return_attribution: undefined, reasoner_gate: { entropy: 0 } }));
      expect(everyStep.body.choices[0].text).toBe('ceg');
      expect(everyStep.body.usage).not.toHaveProperty('reasoner_gate');
    } finally {
      await gated.close();
    }
  });

  it('bad values are 400s in the OpenAI error shape', async () => {
    for (const extra of [{ reasoner_gate: { entropy: -1 } }, { reasoner_gate: { threshold: 1 } }, { reasoner_gate: 2 }, { return_attribution: 'yes' }]) {
      const res = await postJson(`${server.url}/v1/completions`, request(extra));
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error' });
    }
  });
});
