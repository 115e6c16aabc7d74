import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { remoteFilesystemName, filesystemEvents } from '../../../adapters/filesystem-events.js';
import { ModuleRootPoller } from '../../../adapters/module-root-poller.js';
import { ReasonerWatcher, startReasonerWatch } from '../../../adapters/reasoner-watch.js';
import { FakeRegistry } from '../../helpers/fake-registry.js';
import { REASONERS } from '../../helpers/fixtures.js';
import { fuseMount } from '../../helpers/fuse-mount.js';

const DEBOUNCE = 150;
const POLL = 100;
const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(10);
  }
}

let root: string;
let registry: FakeRegistry;
const watchers: ReasonerWatcher[] = [];
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'unir-poll-unit-'));
  registry = new FakeRegistry();
});
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.stop();
  rmSync(root, { recursive: true, force: true });
});

async function startPolling(dir = root, reg = registry): Promise<ReasonerWatcher> {
  const w = new ReasonerWatcher(dir, reg, quiet, { debounceMs: DEBOUNCE, rescanMs: 0, pollMs: POLL });
  watchers.push(w);
  await w.start();
  return w;
}

describe('--watch-poll: the watcher fed by polling', () => {
  it('loads a new module, replaces a changed one, unloads a removed one; no fs.watch', async () => {
    const w = await startPolling();
    expect(w.mode).toBe('poll');
    cpSync(join(REASONERS, 'r1'), join(root, 'a'), { recursive: true });
    await eventually(() => registry.current.has('r1'));
    expect(registry.loads).toEqual([{ dir: join(root, 'a'), name: 'r1', replace: true }]);
    await sleep(3 * (POLL + DEBOUNCE));
    expect(registry.loads).toHaveLength(1); // unchanged: polled again and again, never reloaded
    appendFileSync(join(root, 'a', 'config.json'), ' ');
    await eventually(() => registry.loads.length === 2);
    expect(registry.loads[1]).toMatchObject({ name: 'r1', replace: true });
    rmSync(join(root, 'a'), { recursive: true });
    await eventually(() => registry.unloads.length === 1);
    expect(registry.unloads).toEqual(['r1']);
  });

  it('applies the same stability check: a directory still being copied is not loaded', async () => {
    await startPolling();
    const dir = join(root, 'slow');
    mkdirSync(dir);
    writeFileSync(join(dir, 'unir.json'), JSON.stringify({ name: 'slow', version: '1.0.0' }));
    const model = readFileSync(join(REASONERS, 'r1', 'model.onnx'));
    const chunks = 8;
    for (let i = 0; i < chunks; i++) {
      appendFileSync(join(dir, 'model.onnx'), model.subarray((i * model.length) / chunks, ((i + 1) * model.length) / chunks));
      // Pauses longer than a poll but shorter than the gap between the check's two looks (the debounce):
      // every check sees the directory change between its looks, as with events.
      await sleep(0.7 * DEBOUNCE);
      expect(registry.loads).toHaveLength(0);
    }
    await eventually(() => registry.loads.length === 1);
    expect(registry.loads[0].name).toBe('slow');
  });

  it('a new build swapped in by two renames is loaded, even with the same file sizes and times (tar, rsync -a)', async () => {
    const built = new Date('2020-01-01T00:00:00Z'); // a reproducible build's fixed file times
    const stamp = (dir: string) => readdirSync(dir).forEach((f) => utimesSync(join(dir, f), built, built));
    cpSync(join(REASONERS, 'r1'), join(root, 'a'), { recursive: true });
    cpSync(join(REASONERS, 'r1'), join(root, '.a-new'), { recursive: true });
    const manifest = readFileSync(join(root, 'a', 'unir.json'), 'utf8');
    writeFileSync(join(root, '.a-new', 'unir.json'), manifest.replace('"1.0.0"', '"1.0.1"')); // the same length
    stamp(join(root, 'a'));
    await sleep(50); // the new build is written later than the old one (file times have a clock tick's grain)
    stamp(join(root, '.a-new'));
    await startPolling();
    await eventually(() => registry.loads.length === 1);
    // The documented replacement: the old directory out of the way, the new one in, within a debounce.
    renameSync(join(root, 'a'), join(root, '.a-old'));
    renameSync(join(root, '.a-new'), join(root, 'a'));
    await eventually(() => registry.loads.length === 2);
    expect(registry.loads[1]).toEqual({ dir: join(root, 'a'), name: 'r1', replace: true });
    expect(registry.unloads).toEqual([]);
  });

  it('does not poll after stop', async () => {
    const w = await startPolling();
    await w.stop();
    cpSync(join(REASONERS, 'r1'), join(root, 'late'), { recursive: true });
    await sleep(3 * (POLL + DEBOUNCE));
    expect(registry.loads).toHaveLength(0);
  });
});

describe('ModuleRootPoller', () => {
  it('refuses an interval a Node.js timer cannot keep (it would fire after 1 ms, polling back to back)', () => {
    const source = { entries: async () => [], look: async () => null };
    for (const ms of [0, -5, 2 ** 31, Infinity, NaN]) expect(() => new ModuleRootPoller(source, ms, () => {}, () => {}), String(ms)).toThrow(RangeError);
    expect(new ModuleRootPoller(source, 2 ** 31 - 1, () => {}, () => {}).intervalMs).toBe(2 ** 31 - 1);
  });

  it('reports new, changed and removed subdirectories once each; a root that cannot be listed is retried', async () => {
    const keys = new Map<string, string>([['a', '1'], ['b', '1']]);
    let listable = true;
    const changed: string[] = [];
    const errors: string[] = [];
    const source = {
      entries: async () => {
        if (!listable) throw new Error('ESTALE');
        return [...keys.keys()];
      },
      look: async (e: string) => keys.get(e) ?? null,
    };
    const poller = new ModuleRootPoller(source, 1000, (e) => changed.push(e), (err) => errors.push(err.message));
    expect((await poller.poll()).sort()).toEqual(['a', 'b']); // the first poll reports everything
    expect(await poller.poll()).toEqual([]);
    keys.set('a', '2');
    keys.delete('b');
    keys.set('c', '1');
    expect((await poller.poll()).sort()).toEqual(['a', 'b', 'c']);
    expect(await poller.poll()).toEqual([]);
    listable = false;
    const timed = new ModuleRootPoller(source, 20, (e) => changed.push(e), (err) => errors.push(err.message));
    timed.start();
    await eventually(() => errors.length >= 2);
    listable = true;
    await eventually(() => changed.length === 2);
    await timed.stop();
    expect(changed.sort()).toEqual(['a', 'c']);
  });
});

describe('file systems whose remote changes make no events', () => {
  it('names NFS, CIFS (also as a negative f_type), FUSE and CephFS; a local file system is null', async () => {
    expect(remoteFilesystemName(0x6969)).toBe('nfs');
    expect(remoteFilesystemName(0xff534d42)).toBe('cifs');
    expect(remoteFilesystemName(0xff534d42 | 0)).toBe('cifs'); // signed
    expect(remoteFilesystemName(0x65735546)).toBe('fuse');
    expect(remoteFilesystemName(0x00c36400)).toBe('ceph');
    expect(remoteFilesystemName(0xef53)).toBeNull(); // ext4
    expect(remoteFilesystemName(0x01021994)).toBeNull(); // tmpfs
    expect((await filesystemEvents(root)).remote).toBeNull();
  });

  // A write into the directory bindfs serves is, for a watcher of the mount, a write on another host.
  const probe = mkdtempSync(join(tmpdir(), 'unir-fuse-probe-'));
  const mount = fuseMount(probe);
  const available = !('unavailable' in mount);
  if ('unavailable' in mount) console.warn(`skipped: FUSE test: ${mount.unavailable}`);
  else mount.unmount();
  rmSync(probe, { recursive: true, force: true });

  it.skipIf(!available)('on a FUSE mount --watch polls by itself and loads a module written behind the mount, which inotify never reports', async () => {
    const backing = join(root, 'backing');
    mkdirSync(backing);
    const m = fuseMount(backing);
    if ('unavailable' in m) throw new Error(m.unavailable);
    try {
      expect((await filesystemEvents(m.path)).remote).toBe('fuse');
      const byEvents = new FakeRegistry();
      const eventsWatcher = new ReasonerWatcher(m.path, byEvents, quiet, { debounceMs: DEBOUNCE, rescanMs: 0 });
      watchers.push(eventsWatcher);
      await eventsWatcher.start();
      expect(eventsWatcher.mode).toBe('events');
      const auto = await startReasonerWatch(m.path, registry, quiet, { debounceMs: DEBOUNCE });
      watchers.push(auto!);
      expect(auto!.mode).toBe('poll');

      await sleep(POLL); // the first poll has run: the module arrives between polls
      cpSync(join(REASONERS, 'r1'), join(backing, 'r1'), { recursive: true });
      await eventually(() => registry.current.has('r1'), 6000);
      expect(registry.loads[0].dir).toBe(join(m.path, 'r1'));
      await sleep(2 * DEBOUNCE);
      expect(byEvents.loads).toHaveLength(0); // inotify on the mount heard nothing
    } finally {
      for (const w of watchers.splice(0)) await w.stop();
      m.unmount();
    }
  });
});
