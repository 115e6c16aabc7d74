import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { postJson, startTestServer } from '../helpers/server.js';

/** The bundled demo: a few held-out problems, through HTTP, as `npm run eval` scores them. */
const problems = (set: string) =>
  readFileSync(`demo-models/eval/${set}.jsonl`, 'utf8').split('\n').filter(Boolean).slice(0, 6).map((l) => JSON.parse(l) as { task: string; prompt: string; answer: string });

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer(['--model', 'demo-models/base', '--served-model-name', 'unir-demo', '--reasoners-dir', 'demo-models/reasoners']);
});
afterAll(async () => server.close());

async function answer(model: string, prompt: string): Promise<string | null> {
  const res = await postJson(`${server.url}/v1/completions`, { model, prompt, max_tokens: 96, temperature: 0 });
  expect(res.status).toBe(200);
  const c = res.body.choices[0];
  if (c.finish_reason !== 'stop') return null;
  const text = prompt + c.text;
  return text.slice(text.lastIndexOf('=') + 1).trim();
}

describe('demo models', () => {
  it('the base alone fails the held-out additions; base + add solves them', async () => {
    for (const p of problems('add')) {
      expect(await answer('unir-demo', p.prompt)).not.toBe(p.answer);
      expect(await answer('unir-demo+add', p.prompt)).toBe(p.answer);
    }
  });

  it('base + add + sort solves both kinds of problem in the mixed set', async () => {
    for (const p of problems('mixed')) expect(await answer('unir-demo+add+sort', p.prompt)).toBe(p.answer);
  });
});
