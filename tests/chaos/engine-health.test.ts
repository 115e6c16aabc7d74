import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { postJson, startTestServer } from '../helpers/server.js';

/** When the engine cannot serve, /health and /ready say so (503, with the reason), so an orchestrator restarts it. */
describe('engine health', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  it('an engine worker that is gone turns /health and /ready to 503 with the reason; requests get a 500 without internals', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    // As the worker dies when it runs out of memory or its native code aborts the thread.
    await (server.ctx.engine as unknown as { worker: Worker }).worker.terminate();
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'unhealthy', reason: expect.stringMatching(/engine/) });
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { status: string }).status).toBe('unhealthy');
    const res = await postJson(`${server.url}/v1/completions`, { model: 'tiny-mha-f32', prompt: 'hi', max_tokens: 2 });
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(/request id/);
    expect(res.body.error.message).not.toMatch(/worker|code 1|\//);
  });
});
