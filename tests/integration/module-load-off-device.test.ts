import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonerRegistry } from '../../adapters/reasoner-registry.js';
import type { EngineClient } from '../../engine/engine-client.js';
import type { ExecutionProvider } from '../../models/execution-provider.js';
import { collect, greedyRequest, startEngine, type Collected } from '../helpers/engine.js';
import { FIXTURES, MHA, REASONERS } from '../helpers/fixtures.js';
import { describeEachProvider } from '../helpers/providers.js';

/**
 * A module's tokenizer check (both tokenizer.json files parsed: seconds for a 151k-token vocabulary) must not run on
 * the thread that drives a device shared with the base or other modules, or every stream stops while it runs. The
 * base's tokenizer.json (a copy of the base, after the engine read it) is a FIFO here: whoever checks a module blocks
 * on it until the test writes it. (The module's own files cannot be: a load stages them first and refuses a FIFO.)
 * Meanwhile a stream through the base and an already loaded module must run to its end.
 */
describeEachProvider('a module load never blocks the device\'s thread on its tokenizer check', ({ ep }) => {
  const placements: [ExecutionProvider, ExecutionProvider][] = ep === 'cpu' ? [['cpu', 'cpu']] : [[ep, ep], ['cpu', ep]];
  describe.each(placements)('base on %s, modules on %s', (baseEp, moduleEp) => {
    let engine: EngineClient;
    let registry: ReasonerRegistry;
    let root: string;
    let baseDir: string;
    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'unir-fifo-'));
      baseDir = join(root, 'base');
      cpSync(MHA, baseDir, { recursive: true });
      engine = await startEngine(baseDir, { ep: baseEp });
      registry = new ReasonerRegistry(engine, baseDir, { ep: moduleEp, deviceId: 0, threads: 1 });
      await registry.load(join(REASONERS, 'r1'));
    });
    afterAll(async () => {
      await registry?.close();
      await engine?.close();
      rmSync(root, { recursive: true, force: true });
    });

    it('a stream through the base and a loaded module ends while the new module\'s tokenizer is being read', async () => {
      const tokenizerPath = join(baseDir, 'tokenizer.json');
      const tokenizer = readFileSync(tokenizerPath);
      rmSync(tokenizerPath);
      execFileSync('mkfifo', [tokenizerPath]);

      const loading = registry.load(join(REASONERS, 'r1'), { name: 'slow' });
      // Opening a FIFO for writing waits for its reader: from here on the check is blocked reading it.
      const fifo = await open(tokenizerPath, 'w');
      const r1 = registry.acquire([{ name: 'r1' }]);
      const stream = collect(engine.submit(greedyRequest([5, 17, 42], 16, { reasoners: r1.uses })));
      // A generous bound, not a speed check: a blocked thread never ends the stream at all.
      const during = await Promise.race([stream, new Promise<'blocked'>((r) => setTimeout(() => r('blocked'), 60_000))]);
      await fifo.writeFile(tokenizer);
      await fifo.close();
      await loading;
      rmSync(tokenizerPath);
      writeFileSync(tokenizerPath, tokenizer);
      await stream;
      r1.release();

      expect(during, 'the stream stopped while the module\'s tokenizer was checked').not.toBe('blocked');
      expect((during as Collected).done.finishReason).toBe('length');
      // The module loaded once its tokenizer was read: same weights as r1, same tokens.
      const slow = registry.acquire([{ name: 'slow' }]);
      const viaSlow = await collect(engine.submit(greedyRequest([5, 17, 42], 16, { reasoners: slow.uses })));
      slow.release();
      expect(viaSlow.tokens).toEqual((during as Collected).tokens);
    }, 180_000);

    it('a module whose tokenizer differs from the base\'s is still refused, with the reason', async () => {
      await expect(registry.load(join(FIXTURES, 'incompatible', 'bad-tokenizer'))).rejects.toMatchObject({
        code: 'incompatible_reasoner',
        message: expect.stringMatching(/tokenizers differ on \d+ shared token ids/),
      });
    });
  });
});
