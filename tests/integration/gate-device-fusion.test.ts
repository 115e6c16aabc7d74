import { expect, it } from 'vitest';
import { greedyRequest } from '../helpers/engine.js';
import { REASONERS } from '../helpers/fixtures.js';
import { describeEachProvider } from '../helpers/providers.js';
import { postJson, startTestServer } from '../helpers/server.js';

/** The entropy gate and attribution read each model's row on the host: device-side fusion refuses them. */
describeEachProvider(
  'reasoner_gate and attribution with --fusion-site device',
  ({ ep }) => {
    it('the API answers 400 naming the field; the engine refuses such a sequence too; plain requests are served', async () => {
      const server = await startTestServer(['--ep', ep, '--fusion-site', 'device', '--reasoners-dir', REASONERS]);
      try {
        const body = { model: 'tiny-mha-f32+r1', prompt: [5, 6], max_tokens: 4, temperature: 0 };
        for (const [param, extra] of [['return_attribution', { return_attribution: true }], ['reasoner_gate', { reasoner_gate: { entropy: 0.5 } }]] as const) {
          const res = await postJson(`${server.url}/v1/completions`, { ...body, ...extra });
          expect(res.status).toBe(400);
          expect(res.body.error).toMatchObject({ param, message: expect.stringMatching(/--fusion-site device/) });
        }
        // Below the API, for callers of the engine itself.
        const lease = server.ctx.registry.acquire([{ name: 'r1' }]);
        const events = [];
        for await (const e of server.ctx.engine.submit(greedyRequest([5, 6], 4, { reasoners: lease.uses, attribution: true }))) events.push(e);
        lease.release();
        expect(events).toEqual([expect.objectContaining({ kind: 'done', finishReason: 'error', error: expect.objectContaining({ code: 'invalid_request' }) })]);
        const plain = await postJson(`${server.url}/v1/completions`, body);
        expect(plain.status).toBe(200);
        expect(plain.body.usage.completion_tokens).toBe(4);
      } finally {
        await server.close();
      }
      // The first WebGPU run on lavapipe compiles its shaders: 70-80 s at a load average of 20 on 2 cores.
    }, 180_000);
  },
  ['webgpu'],
);
