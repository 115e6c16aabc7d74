import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { REASONERS } from '../helpers/fixtures.js';
import { castLogits, editManifest, INF_MODULE, modulesRoot, NAN_BASE, NAN_MODULE, POISON_TEXT } from '../helpers/hostile.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

/**
 * Non-finite logits end only the sequences they reach: a module whose logits are all NaN or +-Infinity fails the
 * requests that use it with reasoner_failed naming it, a base row that is NaN fails its request with model_failed,
 * and the engine keeps serving everyone else, base-only requests included.
 */
const R1_DIR = join(REASONERS, 'r1');
const MODEL = 'tiny-mha-f32';
const greedy = { max_tokens: 8, temperature: 0, ignore_eos: true };

describe('a poisoned module fails only its own requests', () => {
  let server: RunningServer;
  let root: ReturnType<typeof modulesRoot>;
  beforeAll(async () => {
    root = modulesRoot({ poison: NAN_MODULE, infinite: INF_MODULE, r1: R1_DIR, huge: R1_DIR, int64: R1_DIR, text: R1_DIR, bool: R1_DIR });
    editManifest(join(root.root, 'poison'), { name: 'poison' });
    editManifest(join(root.root, 'infinite'), { name: 'infinite' });
    editManifest(join(root.root, 'huge'), { name: 'huge', default_weight: 1e308 });
    for (const [name, type] of [['int64', 7], ['text', 8], ['bool', 9]] as const) {
      castLogits(join(root.root, name), type);
      editManifest(join(root.root, name), { name });
    }
    server = await startTestServer(['--reasoners-dir', root.root]);
  });
  afterAll(async () => {
    await server?.close();
    root?.remove();
  });
  const complete = (body: object) => postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'Hello world', ...greedy, ...body });

  it('all-NaN module: 500 reasoner_failed naming it; the next base request and the next module request are 200', async () => {
    const baseline = await complete({});
    expect(baseline.status).toBe(200);
    const poisoned = await complete({ model: `${MODEL}+poison` });
    expect(poisoned.status).toBe(500);
    expect(poisoned.body.error).toMatchObject({ code: 'reasoner_failed', type: 'server_error' });
    expect(poisoned.body.error.message).toContain('poison');
    expect(poisoned.body.error.message).not.toMatch(/argmax/);
    const after = await complete({});
    expect(after.status).toBe(200);
    expect(after.body.choices[0].text).toBe(baseline.body.choices[0].text);
    expect((await complete({ model: `${MODEL}+r1` })).status).toBe(200);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  });

  it('a poisoned sequence leaves the batch alone: base and r1 requests running beside it finish with their own text', async () => {
    const alone = await complete({ model: `${MODEL}+r1`, max_tokens: 24 });
    const [a, b, c] = await Promise.all([
      complete({ model: `${MODEL}+r1`, max_tokens: 24 }),
      complete({ model: `${MODEL}+poison`, max_tokens: 24 }),
      complete({ max_tokens: 24, n: 3 }),
    ]);
    expect(a.status).toBe(200);
    expect(a.body.choices[0].text).toBe(alone.body.choices[0].text);
    expect(b.status).toBe(500);
    expect(c.status).toBe(200);
    expect(c.body.choices).toHaveLength(3);
  });

  it('streaming: an error event naming the module, then [DONE]; the server serves the next stream', async () => {
    const res = await complete({ model: `${MODEL}+poison`, stream: true });
    expect(res.status).toBe(200);
    const events = parseSse(res.body as string);
    expect(events.at(-1)).toBe('[DONE]');
    const error = events.find((e) => typeof e === 'object' && e !== null && 'error' in e) as { error: { code: string; message: string } };
    expect(error.error.code).toBe('reasoner_failed');
    expect(error.error.message).toContain('poison');
    const next = parseSse((await complete({ stream: true })).body as string);
    expect(next.at(-1)).toBe('[DONE]');
    expect(next.some((e) => typeof e === 'object' && e !== null && 'error' in e)).toBe(false);
  });

  it('+-Infinity logits are refused the same way, not turned into text', async () => {
    const res = await complete({ model: `${MODEL}+infinite` });
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('reasoner_failed');
    expect(res.body.error.message).toContain('infinite');
    expect((await complete({})).status).toBe(200);
  });

  it('unloading the poisoned module leaves a healthy server', async () => {
    const del = await fetch(`${server.url}/v1/reasoners/poison`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await complete({})).status).toBe(200);
    expect((await complete({ model: `${MODEL}+poison` })).body.error.code).toBe('reasoner_not_found');
  });

  it('a manifest default_weight outside the request range [-10, 10] is refused at load', async () => {
    const list = (await fetch(`${server.url}/v1/reasoners`).then((r) => r.json())) as { data: { name: string; state: string; error: string }[] };
    const huge = list.data.find((m) => m.name === "huge")!;
    expect(huge.state).toBe('failed');
    expect(huge.error).toMatch(/default_weight/);
    expect((await complete({ model: `${MODEL}+huge` })).body.error.code).toBe('reasoner_not_found');
  });

  it('a module whose logits are not floats (int64, string, bool) is refused at load, not read as numbers', async () => {
    const list = (await fetch(`${server.url}/v1/reasoners`).then((r) => r.json())) as { data: { name: string; state: string; error: string }[] };
    for (const [name, type] of [['int64', 'int64'], ['text', 'string'], ['bool', 'bool']]) {
      const entry = list.data.find((m) => m.name === name)!;
      expect(entry.state).toBe('failed');
      expect(entry.error).toContain(`logits are ${type}, expected float32 or float16`);
      expect((await complete({ model: `${MODEL}+${name}` })).body.error.code).toBe('reasoner_not_found');
    }
  });

  it('a temperature too small to divide by (1e-38) samples greedily, as temperature 0', async () => {
    const zero = await complete({ temperature: 0, max_tokens: 16 });
    const tiny = await complete({ temperature: 1e-38, max_tokens: 16, seed: 7 });
    expect(tiny.status).toBe(200);
    expect(tiny.body.choices[0].text).toBe(zero.body.choices[0].text);
  });
});

describe('a base row that is NaN fails its own request with model_failed', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer(['--model', NAN_BASE, '--served-model-name', MODEL]);
  });
  afterAll(async () => server?.close());

  it('the prompt that poisons the base fails; the requests beside it and after it are served', async () => {
    const post = (prompt: string) => postJson(`${server.url}/v1/completions`, { model: MODEL, prompt, ...greedy });
    const [bad, good] = await Promise.all([post(`hello ${POISON_TEXT} world`), post('hello world')]);
    expect(bad.status).toBe(500);
    expect(bad.body.error).toMatchObject({ code: 'model_failed', type: 'server_error' });
    expect(bad.body.error.message).toMatch(/base model/);
    expect(good.status).toBe(200);
    expect((await post('the cat sat')).status).toBe(200);
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  });
});
