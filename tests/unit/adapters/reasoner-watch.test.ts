import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, ReasonerWatcher } from '../../../adapters/reasoner-watch.js';
import { FakeRegistry } from '../../helpers/fake-registry.js';
import { REASONERS } from '../../helpers/fixtures.js';

const DEBOUNCE = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually(check: () => boolean, ms = 4000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(10);
  }
}
const manifest = (name: string) => JSON.stringify({ name, version: '1.0.0' });

let root: string;
let registry: FakeRegistry;
let watcher: ReasonerWatcher;
const start = async () => {
  watcher = new ReasonerWatcher(root, registry, pino({ level: 'silent' }), { debounceMs: DEBOUNCE, rescanMs: 0 });
  await watcher.start();
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'unir-watch-unit-'));
  registry = new FakeRegistry();
});
afterEach(async () => {
  await watcher?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('ReasonerWatcher', () => {
  it('loads a new complete module once, with replace', async () => {
    await start();
    cpSync(join(REASONERS, 'r1'), join(root, 'a'), { recursive: true });
    await eventually(() => registry.loads.length === 1);
    expect(registry.loads[0]).toEqual({ dir: join(root, 'a'), name: 'r1', replace: true });
    await sleep(4 * DEBOUNCE);
    expect(registry.loads).toHaveLength(1);
  });

  it('leaves a directory alone while it is being written (manifest first, model in chunks slower than the debounce)', async () => {
    await start();
    const dir = join(root, 'slow');
    mkdirSync(dir);
    writeFileSync(join(dir, 'unir.json'), manifest('slow'));
    const model = readFileSync(join(REASONERS, 'r1', 'model.onnx'));
    const chunks = 6;
    for (let i = 0; i < chunks; i++) {
      appendFileSync(join(dir, 'model.onnx'), model.subarray((i * model.length) / chunks, ((i + 1) * model.length) / chunks));
      // Longer than the debounce (so it fires between chunks), shorter than the stability window (2 × debounce):
      // only the stability check holds the load back. The 0.75 × debounce margin absorbs timer lateness.
      await sleep(1.25 * DEBOUNCE);
      expect(registry.loads).toHaveLength(0);
    }
    await eventually(() => registry.loads.length === 1);
    expect(registry.loads[0].name).toBe('slow');
  });

  it('waits for unir.json; ignores hidden directories; an atomic rename loads once', async () => {
    await start();
    mkdirSync(join(root, 'pending'));
    writeFileSync(join(root, 'pending', 'model.onnx'), 'x');
    cpSync(join(REASONERS, 'r2'), join(root, '.incoming'), { recursive: true });
    await sleep(4 * DEBOUNCE);
    expect(registry.loads).toHaveLength(0);
    renameSync(join(root, '.incoming'), join(root, 'r2'));
    writeFileSync(join(root, 'pending', 'unir.json'), manifest('pending'));
    await eventually(() => registry.loads.length === 2);
    expect(registry.loads.map((l) => l.name).sort()).toEqual(['pending', 'r2']);
  });

  it('replaces a changed module, and unloads a removed one', async () => {
    cpSync(join(REASONERS, 'r1'), join(root, 'r1'), { recursive: true });
    registry.current.set('r1', join(root, 'r1')); // loaded at start-up
    await start();
    await sleep(3 * DEBOUNCE);
    expect(registry.loads).toHaveLength(0); // the baseline is what is loaded
    appendFileSync(join(root, 'r1', 'config.json'), ' ');
    await eventually(() => registry.loads.length === 1);
    expect(registry.loads[0]).toMatchObject({ name: 'r1', replace: true });
    rmSync(join(root, 'r1'), { recursive: true });
    await eventually(() => registry.unloads.length === 1);
    expect(registry.unloads).toEqual(['r1']);
  });

  it('unloads the old name when the manifest renames the module; unloads when unir.json is deleted', async () => {
    await start();
    cpSync(join(REASONERS, 'r1'), join(root, 'm'), { recursive: true });
    await eventually(() => registry.current.has('r1'));
    writeFileSync(join(root, 'm', 'unir.json'), manifest('renamed'));
    await eventually(() => registry.current.has('renamed'));
    expect(registry.unloads).toEqual(['r1']);
    rmSync(join(root, 'm', 'unir.json'));
    await eventually(() => registry.unloads.length === 2);
    expect(registry.current.size).toBe(0);
  });

  it('records failures (shown in the list), does not retry unchanged content, retries on change, forgets on removal', async () => {
    await start();
    const dir = join(root, 'bad');
    registry.failing.add(dir);
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.onnx'), 'not onnx');
    writeFileSync(join(dir, 'unir.json'), manifest('bad'));
    await eventually(() => registry.failures.has('bad'));
    await sleep(4 * DEBOUNCE);
    expect(registry.loads).toHaveLength(1);
    // A manifest that is not JSON: recorded under the directory name.
    const broken = join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'unir.json'), '{');
    await eventually(() => registry.failures.has('broken'));
    registry.failing.delete(dir);
    writeFileSync(join(dir, 'model.onnx'), 'fixed');
    await eventually(() => registry.current.has('bad'));
    rmSync(broken, { recursive: true });
    await eventually(() => !registry.failures.has('broken'));
  });

  it('does nothing after stop', async () => {
    await start();
    await watcher.stop();
    cpSync(join(REASONERS, 'r1'), join(root, 'late'), { recursive: true });
    await sleep(4 * DEBOUNCE);
    expect(registry.loads).toHaveLength(0);
  });
});

describe('fingerprint', () => {
  it('changes with a file\'s size, is null for a missing directory, knows whether unir.json is there', async () => {
    const dir = join(root, 'f');
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    writeFileSync(join(dir, 'onnx', 'model.onnx'), 'a');
    const a = await fingerprint(dir);
    expect(a).toMatchObject({ complete: false });
    writeFileSync(join(dir, 'onnx', 'model.onnx'), 'ab');
    expect((await fingerprint(dir))!.key).not.toBe(a!.key);
    writeFileSync(join(dir, 'unir.json'), '{}');
    expect((await fingerprint(dir))!.complete).toBe(true);
    expect(await fingerprint(join(root, 'none'))).toBeNull();
  });

  it('changes when a file is replaced by one of the same size and modification time (cp -p, rsync -a, tar)', async () => {
    const dir = join(root, 'g');
    mkdirSync(dir);
    const built = new Date('2020-01-01T00:00:00Z'); // a reproducible build's fixed time
    writeFileSync(join(dir, 'unir.json'), manifest('g'));
    utimesSync(join(dir, 'unir.json'), built, built);
    const before = await fingerprint(dir);
    await sleep(50); // later than the first write by more than a clock tick (the grain of file times)
    // A new build: same length, its time kept as a copy that preserves times would.
    writeFileSync(join(dir, 'unir.json'), JSON.stringify({ name: 'g', version: '1.0.1' }));
    utimesSync(join(dir, 'unir.json'), built, built);
    expect(statSync(join(dir, 'unir.json')).size).toBe(manifest('g').length);
    expect((await fingerprint(dir))!.key).not.toBe(before!.key);
  });
});
