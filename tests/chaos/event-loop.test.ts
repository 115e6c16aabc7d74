import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli, type CliChild } from '../../scripts/cli-child.js';
import type { RunningServer } from '../../server/start.js';
import { longContextBase } from '../helpers/hostile.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * Nothing heavy runs on the HTTP event loop: a prompt of 600,000 characters (about a second of tokenizing) is
 * tokenized in a text worker while /health answers and a stream keeps streaming; a prompt that cannot fit the
 * context is refused before anyone tokenizes it, and a body far beyond the context is refused as it arrives.
 */
const MODEL = 'tiny-mha-f32';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TEXT = 'the quick brown fox jumps over the lazy dog. ';

describe('tokenizing a long prompt', () => {
  let cli: CliChild;
  let url: string;
  let base: ReturnType<typeof longContextBase>;
  beforeAll(async () => {
    // The fixture with a context long enough that a 600k-character prompt is a valid request.
    base = longContextBase(2_000_000);
    // A process of its own: the test's clients must not share the server's event loop.
    cli = spawnCli(['--import', 'tsx', 'server/cli.ts', '--model', base.dir, '--served-model-name', MODEL, '--port', '0', '--threads', '1'], { cwd: ROOT });
    url = await cli.listening;
    for (let i = 0; i < 600 && (await fetch(`${url}/ready`).catch(() => null))?.status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    cli?.proc.kill('SIGKILL');
    base?.remove();
  });

  it('/health answers and a stream keeps streaming while /tokenize works on 600,000 characters', async () => {
    const stream = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'once upon a time', max_tokens: 5000, ignore_eos: true, stream: true }),
    });
    const reader = stream.body!.getReader();
    await reader.read();
    let chunks = 0;
    const pump = (async () => {
      for (;;) {
        if ((await reader.read()).done) return;
        chunks++;
      }
    })();
    const order: string[] = [];
    const prompt = TEXT.repeat(Math.ceil(600_000 / TEXT.length));
    // Resolves when the response's headers arrive, i.e. once the server has finished tokenizing.
    const tokenize = fetch(`${url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt }) }).then((r) => {
      order.push('tokenize');
      return r;
    });
    // Time for the request to arrive and its tokenizing to start; then /health, and the stream meanwhile.
    await new Promise((r) => setTimeout(r, 300));
    const chunksBefore = chunks;
    const health = await fetch(`${url}/health`);
    order.push('health');
    const res = await tokenize;
    const chunksDuring = chunks - chunksBefore;
    expect(health.status).toBe(200);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { count: number }).count).toBeGreaterThan(400_000);
    expect(order).toEqual(['health', 'tokenize']);
    expect(chunksDuring).toBeGreaterThan(0);
    await reader.cancel();
    await pump.catch(() => undefined);
  });
});

describe('prompts that cannot fit the context (512 tokens)', () => {
  let server: RunningServer;
  let unlimited: RunningServer;
  beforeAll(async () => {
    server = await startTestServer();
    unlimited = await startTestServer(['--body-limit', String(16 * 1024 * 1024)]);
  });
  afterAll(async () => {
    await server?.close();
    await unlimited?.close();
  });

  it('by default the body limit follows the context: a 4 MB prompt is refused with 413 as it arrives', async () => {
    const res = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'x'.repeat(4_000_000) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('with a larger body limit, a 4 MB prompt is refused before tokenizing, on every endpoint that tokenizes', async () => {
    const prompt = TEXT.repeat(Math.ceil(4_000_000 / TEXT.length));
    for (const [path, body] of [
      ['/v1/completions', { model: MODEL, prompt }],
      ['/tokenize', { prompt }],
      ['/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: prompt }] }],
    ] as const) {
      const res = await postJson(`${unlimited.url}${path}`, body);
      expect(res.status, path).toBe(400);
      expect(res.body.error.code).toBe('context_length_exceeded');
      expect(res.body.error.message).toMatch(/characters, more than 512 tokens can hold/);
    }
    expect((await fetch(`${unlimited.url}/health`)).status).toBe(200);
  });
});
