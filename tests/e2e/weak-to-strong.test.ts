import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * Weak-to-strong: base-L (demo-models/base-large, 9.9 M parameters) served with the modules trained against the
 * small base. The server's greedy completions must be PyTorch's, token for token, as
 * training/eval_weak_to_strong.py recorded them (base-L and the modules read back from the same ONNX files).
 */
interface Sample {
  prompt: string;
  completion: string;
  eos: boolean;
}
const pytorch = JSON.parse(readFileSync('demo-models/eval/python-eval-weak-to-strong.json', 'utf8')) as { samples: Record<string, Sample[]> };

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer(['--model', 'demo-models/base-large', '--served-model-name', 'base-L', '--reasoners-dir', 'demo-models/reasoners']);
});
afterAll(async () => server.close());

async function complete(body: object): Promise<{ text: string; eos: boolean }> {
  const res = await postJson(`${server.url}/v1/completions`, { max_tokens: 96, temperature: 0, ...body });
  expect(res.status).toBe(200);
  return { text: res.body.choices[0].text, eos: res.body.choices[0].finish_reason === 'stop' };
}

describe('base-L with the small base\'s modules', () => {
  it('loads both modules (their tokenizer is base-L\'s)', async () => {
    const res = await fetch(`${server.url}/v1/reasoners`);
    const { data } = (await res.json()) as { data: { name: string; state: string; base: string; vocab_size: number }[] };
    expect(data.map((m) => [m.name, m.state, m.base, m.vocab_size]).sort()).toEqual([
      ['add', 'ready', 'unir-demo-base', 257],
      ['sort', 'ready', 'unir-demo-base', 257],
    ]);
  });

  const cases: [string, (prompt: string) => object][] = [
    ['base-L alone', (prompt) => ({ model: 'base-L', prompt })],
    ['base-L + add + sort', (prompt) => ({ model: 'base-L+add+sort', prompt })],
    ['base-L + add + sort, weights 2', (prompt) => ({ model: 'base-L', prompt, reasoners: [{ name: 'add', weight: 2 }, { name: 'sort', weight: 2 }] })],
  ];
  for (const [label, request] of cases) {
    it(`${label}: the greedy completions PyTorch recorded`, async () => {
      const samples = pytorch.samples[label];
      expect(samples.length).toBeGreaterThan(0);
      for (const s of samples) {
        const got = await complete(request(s.prompt));
        expect({ prompt: s.prompt, completion: got.text, eos: got.eos }).toEqual(s);
      }
    });
  }
});
