import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineStats } from '../../engine/engine-stats.js';
import type { RunningServer } from '../../server/start.js';
import { longContextBase } from '../helpers/hostile.js';
import { postJson, startLoggedServer } from '../helpers/server.js';

/**
 * A client that never reads its stream: its generation pauses (leaves the batch, keeps its caches) instead of
 * filling server memory, the other clients are served meanwhile, and after --stream-write-timeout the stream is
 * cancelled, its caches freed and the reason logged. Over SSE and over the WebSocket.
 */
const MODEL = 'tiny-mha-f32';
const N = 16;
const MAX_TOKENS = 2000;
const body = { model: MODEL, prompt: 'once upon a time', n: N, logprobs: 20, max_tokens: MAX_TOKENS, ignore_eos: true };

/** A TCP client that sends `request` and then never reads a byte. */
function neverReading(url: string, request: Buffer | string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ port: Number(port), host: hostname }, () => {
      socket.pause();
      socket.write(request);
      resolve(socket);
    });
    socket.on('error', () => undefined);
  });
}

/** One masked WebSocket text frame (clients must mask), for a payload under 64 KiB. */
function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const head = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, masked]);
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a streaming client that never reads', () => {
  let server: RunningServer;
  let logs: Record<string, any>[];
  const stats = (): Promise<EngineStats> => server.ctx.engine.stats();
  let base: ReturnType<typeof longContextBase>;
  beforeAll(async () => {
    // A context long enough that 16 x 2,000 tokens (about 30 MB of frames) outgrow the kernel's socket buffers.
    base = longContextBase(4096);
    ({ server, logs } = await startLoggedServer(['--model', base.dir, '--served-model-name', MODEL, '--stream-write-timeout', '2', '--max-batch', String(N)]));
  });
  afterAll(async () => {
    await server?.close();
    base?.remove();
  });

  /** Checks the pause and the give-up for a client socket set up by `open`. */
  async function pausesThenGivesUp(open: () => Promise<Socket>, kind: string): Promise<void> {
    const before = (await stats()).generatedTokens;
    const socket = await open();
    // Paused for good once the kernel's socket buffers are full too (until then it drains and resumes).
    let last = -1;
    await waitFor('the stream to pause', async () => {
      const s = await stats();
      const stable = s.paused === N && s.generatedTokens === last;
      last = s.generatedTokens;
      if (!stable) await new Promise((r) => setTimeout(r, 200));
      return stable;
    });
    const pausedAt = (await stats()).generatedTokens - before;
    // Paused: nothing more is generated for it, far below what it asked for...
    expect(pausedAt).toBeLessThan(N * MAX_TOKENS / 2);
    // ...while other clients are served, the batch slots being free.
    const other = await postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'hello', max_tokens: 8, ignore_eos: true });
    expect(other.status).toBe(200);
    const after = (await stats()).generatedTokens - before;
    expect(after - pausedAt).toBe(8);
    // Then --stream-write-timeout (2 s) gives it up: cancelled, caches freed, the reason logged.
    await waitFor('the stream to be given up', async () => {
      const s = await stats();
      return s.paused === 0 && s.running === 0 && s.cachedSequences === 0;
    });
    const line = logs.find((l) => l.msg === 'stream cancelled: the client did not read it within --stream-write-timeout' && !l.seen);
    expect(line, kind).toMatchObject({ level: 40, remoteAddress: '127.0.0.1', streamWriteTimeoutS: 2 });
    line!.seen = true;
    socket.destroy();
  }

  it('SSE: n 16 with 20 logprobs pauses, lets others through, is given up after the timeout', async () => {
    const json = JSON.stringify({ ...body, stream: true });
    const request = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
    await pausesThenGivesUp(() => neverReading(server.url, request), 'sse');
  });

  it('WebSocket: the same', async () => {
    const key = randomBytes(16).toString('base64');
    const upgrade = `GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const frame = wsFrame(JSON.stringify({ type: 'generate', id: 1, ...body }));
    await pausesThenGivesUp(() => neverReading(server.url, Buffer.concat([Buffer.from(upgrade), frame])), 'websocket');
  });
});
