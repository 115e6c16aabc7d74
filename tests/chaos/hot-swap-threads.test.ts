import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { REASONERS } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * What kept memory growing over hot swaps (bench/hot-swap-memory.ts: RSS 348 -> 522 MiB over 50 replacements):
 * each version ran in a new thread, and each ended thread left its malloc arena behind. Module threads are now
 * reused: replacements under load start no new OS thread once the first ones exist.
 */
const tids = () => new Set(readdirSync('/proc/self/task'));

describe('hot swaps reuse module threads', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer(['--reasoners-dir', REASONERS]);
  });
  afterAll(async () => server?.close());

  it('6 replacements of r1 under load start at most 2 new threads; every request succeeds', async () => {
    let stop = false;
    let failed = 0;
    const load = (async () => {
      while (!stop) {
        const res = await postJson(`${server.url}/v1/completions`, { model: 'tiny-mha-f32+r1', prompt: 'Hello world', max_tokens: 8 });
        if (res.status !== 200) failed++;
      }
    })();
    const replace = async () => {
      const res = await postJson(`${server.url}/v1/reasoners`, { path: 'r1', replace: true });
      expect(res.status).toBe(200);
      // The old version drains and gives its thread back.
      await new Promise((r) => setTimeout(r, 200));
    };
    for (let i = 0; i < 2; i++) await replace();
    const seen = tids();
    const before = seen.size;
    for (let i = 0; i < 6; i++) {
      await replace();
      for (const t of tids()) seen.add(t);
    }
    stop = true;
    await load;
    expect(failed).toBe(0);
    expect(seen.size - before).toBeLessThanOrEqual(2);
  });
});
