import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { Logger } from 'pino';
import { pollingNeeded } from './filesystem-events.js';
import { MANIFEST_FILE, readManifest } from './manifest.js';
import { DEFAULT_POLL_MS, ModuleRootPoller } from './module-root-poller.js';
import type { ReasonerRegistry } from './reasoner-registry.js';

/** What the watcher needs of the registry (a fake one in unit tests). */
export type WatchedRegistry = Pick<ReasonerRegistry, 'load' | 'unload' | 'pathOf' | 'list' | 'recordFailure' | 'forgetFailure'>;

export interface WatchOptions {
  /** Quiet time after the last event in a subdirectory before it is examined; also the gap of the stability check. */
  debounceMs?: number;
  /** Full rescan every so often, in case an event was missed (0: never). */
  rescanMs?: number;
  /** Poll the root every so often instead of listening to file-system events (0 or absent: events). */
  pollMs?: number;
  /** Why it polls (logged). */
  pollWhy?: string;
}

/** The last state of a subdirectory the watcher acted on. */
interface Applied {
  fingerprint: string;
  /** The module loaded from it, or null (the load failed). */
  name: string | null;
  /** The name a failure was recorded under (cleared when the directory goes). */
  failedAs: string | null;
}

/**
 * --watch: keeps the registry in step with the subdirectories of the modules root. A new subdirectory with a
 * complete module is loaded; a changed one is replaced (registry.load with replace: requests in flight finish
 * on the old version); a removed one (or one whose unir.json is gone) is unloaded.
 *
 * fs.watch (recursive; inotify on Linux) tells which subdirectory changed; it is examined once no event came
 * for `debounceMs`, and acted on only when it is stable: unir.json present, and its file list, sizes, mtimes and
 * ctimes the same in two looks `debounceMs` apart (a directory still being copied is left alone until the copy ends).
 * Subdirectories whose names start with "." are ignored: copy into .name, then rename, for an atomic swap.
 * Errors are logged and recorded in the registry (GET /v1/reasoners shows them, state failed); never thrown.
 * With `pollMs` (--watch-poll, or a root on NFS/FUSE where events from other hosts never come) a
 * ModuleRootPoller reports the changed subdirectories instead of fs.watch; every decision above is the same.
 */
export class ReasonerWatcher {
  private readonly root: string;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly pollMs: number;
  private readonly pollWhy: string;
  private readonly applied = new Map<string, Applied>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly chains = new Map<string, Promise<void>>();
  private watcher: FSWatcher | null = null;
  private poller: ModuleRootPoller | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    root: string,
    private readonly registry: WatchedRegistry,
    private readonly log: Logger,
    options: WatchOptions = {},
  ) {
    this.root = resolve(root);
    this.debounceMs = options.debounceMs ?? 500;
    this.rescanMs = options.rescanMs ?? 10_000;
    this.pollMs = options.pollMs ?? 0;
    this.pollWhy = options.pollWhy ?? '--watch-poll';
  }

  /** Takes what is loaded now as the baseline, then watches. Subdirectories not loaded yet are examined. */
  async start(): Promise<void> {
    const failedDirs = new Set(this.registry.list().filter((i) => i.state === 'failed').map((i) => i.path));
    for (const entry of await this.entries()) {
      const dir = join(this.root, entry);
      const fp = await fingerprint(dir).catch(() => null);
      const name = fp?.complete ? await readManifest(dir, { root: this.root }).then((m) => m.name, () => null) : null;
      if (fp && name !== null && this.registry.pathOf(name) === dir) this.applied.set(entry, { fingerprint: fp.key, name, failedAs: null });
      else if (fp && failedDirs.has(dir)) this.applied.set(entry, { fingerprint: fp.key, name: null, failedAs: null });
      else this.schedule(entry);
    }
    if (this.pollMs > 0) return this.startPolling(this.pollMs, this.pollWhy);
    try {
      this.watcher = watch(this.root, { recursive: true }, (_event, filename) => {
        if (filename === null) return this.rescan();
        this.schedule(String(filename).split(sep)[0]);
      });
    } catch (err) {
      // inotify watches exhausted (ENOSPC), or no inotify at all: polling sees the same changes, later.
      return this.startPolling(DEFAULT_POLL_MS, `file-system events unavailable (${(err as Error).message})`);
    }
    this.watcher.unref();
    this.watcher.on('error', (err) => {
      this.watcher?.close();
      this.watcher = null;
      if (this.rescanTimer) clearInterval(this.rescanTimer);
      this.startPolling(DEFAULT_POLL_MS, `file-system events failed (${err.message})`);
    });
    if (this.rescanMs > 0) {
      this.rescanTimer = setInterval(() => this.rescan(), this.rescanMs);
      this.rescanTimer.unref();
    }
    this.log.info({ root: this.root, debounceMs: this.debounceMs, mode: 'events' }, 'watching the modules root');
  }

  /** 'events' (fs.watch) or 'poll' (ModuleRootPoller), once started. */
  get mode(): 'events' | 'poll' | null {
    return this.poller ? 'poll' : this.watcher ? 'events' : null;
  }

  /** The poller reports changed subdirectories; what they mean is decided here, exactly as for an event. */
  private startPolling(intervalMs: number, why: string): void {
    if (this.stopped || this.poller) return;
    const root = { entries: () => this.entries(), look: (entry: string) => fingerprint(join(this.root, entry)).then((f) => f?.key ?? null) };
    this.poller = new ModuleRootPoller(root, intervalMs, (entry) => this.schedule(entry), (err) =>
      this.log.error({ root: this.root, err: err.message }, 'modules root cannot be listed: polling again'),
    );
    this.poller.start();
    this.log.info({ root: this.root, debounceMs: this.debounceMs, mode: 'poll', pollMs: intervalMs, why }, 'watching the modules root by polling');
  }

  /** Stops watching; waits for the checks and loads under way (a load runs to its end). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    await this.poller?.stop();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.chains.values()]);
  }

  private rescan(): void {
    void this.entries().then((entries) => {
      for (const entry of new Set([...entries, ...this.applied.keys()])) this.schedule(entry);
    }, (err) => this.log.error({ root: this.root, err: (err as Error).message }, 'modules root cannot be listed'));
  }

  /** (Re)starts the subdirectory's debounce timer; when it fires, a check joins the subdirectory's queue. */
  private schedule(entry: string): void {
    if (this.stopped || entry === '' || entry.startsWith('.')) return;
    clearTimeout(this.timers.get(entry));
    const timer = setTimeout(() => {
      this.timers.delete(entry);
      const chain = (this.chains.get(entry) ?? Promise.resolve())
        .then(() => this.check(entry))
        .catch((err) => this.log.error({ dir: join(this.root, entry), err: (err as Error).message }, 'module watch check failed'))
        .finally(() => {
          if (this.chains.get(entry) === chain) this.chains.delete(entry);
        });
      this.chains.set(entry, chain);
    }, this.debounceMs);
    timer.unref();
    this.timers.set(entry, timer);
  }

  private async check(entry: string): Promise<void> {
    if (this.stopped) return;
    const dir = join(this.root, entry);
    const first = await fingerprint(dir);
    if (first === null || !first.complete) return this.removed(entry, dir, first === null ? 'removed' : `${MANIFEST_FILE} is gone`);
    await new Promise((r) => setTimeout(r, this.debounceMs));
    const second = await fingerprint(dir);
    if (this.stopped) return;
    if (second === null || second.key !== first.key) return this.schedule(entry); // still being written
    if (this.applied.get(entry)?.fingerprint === second.key) return; // nothing new
    await this.load(entry, dir, second.key);
  }

  private async load(entry: string, dir: string, key: string): Promise<void> {
    const prev = this.applied.get(entry);
    let name: string;
    try {
      name = (await readManifest(dir, { root: this.root, shown: entry })).name;
    } catch (err) {
      return this.failed(entry, dir, key, entry, err, prev);
    }
    if (prev?.name && prev.name !== name && this.registry.pathOf(prev.name) === dir) {
      this.registry.unload(prev.name);
      this.log.info({ reasoner: prev.name, dir }, 'module renamed in its manifest: old name unloaded (draining)');
    }
    const other = this.registry.pathOf(name);
    if (other !== null && other !== dir) this.log.warn({ reasoner: name, dir, previous: other }, 'a module of this name was loaded from another directory: replacing it');
    try {
      const info = await this.registry.load(dir, { name, replace: true });
      if (prev?.failedAs && prev.failedAs !== name) this.registry.forgetFailure(prev.failedAs);
      this.applied.set(entry, { fingerprint: key, name, failedAs: null });
      this.log.info({ reasoner: name, version: info.version, dir, replaced: other !== null, loadMs: info.load_ms }, other !== null ? 'reasoning module replaced (watch)' : 'reasoning module loaded (watch)');
    } catch (err) {
      // The version in service (if any) stays; the registry has recorded the failure under `name`.
      this.failed(entry, dir, key, name, err, prev, false);
    }
  }

  private failed(entry: string, dir: string, key: string, as: string, err: unknown, prev: Applied | undefined, record = true): void {
    if (record) this.registry.recordFailure(as, dir, err);
    const name = prev?.name && this.registry.pathOf(prev.name) === dir ? prev.name : null;
    this.applied.set(entry, { fingerprint: key, name, failedAs: as });
    this.log.error({ dir, err: (err as Error).message }, 'reasoning module not loaded (watch)');
  }

  private removed(entry: string, dir: string, why: string): void {
    const prev = this.applied.get(entry);
    if (!prev) return;
    this.applied.delete(entry);
    if (prev.failedAs) this.registry.forgetFailure(prev.failedAs);
    if (prev.name && this.registry.pathOf(prev.name) === dir) {
      this.registry.unload(prev.name);
      this.registry.forgetFailure(prev.name);
      this.log.info({ reasoner: prev.name, dir, why }, 'reasoning module unloaded (watch); draining');
    }
  }

  private async entries(): Promise<string[]> {
    const dirents = await readdir(this.root, { withFileTypes: true });
    return dirents.filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
  }
}

/**
 * The directory's file list with sizes, mtimes and ctimes (recursive), and whether unir.json is there; null when
 * the path is gone or is not a directory. Only metadata: no file is read.
 */
export async function fingerprint(dir: string): Promise<{ key: string; complete: boolean } | null> {
  try {
    if (!(await stat(dir)).isDirectory()) return null;
    const lines: string[] = [];
    await walk(dir, '', lines);
    lines.sort();
    return { key: lines.join('\n'), complete: lines.some((l) => l.startsWith(`${MANIFEST_FILE}\t`)) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function walk(dir: string, prefix: string, out: string[]): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    const full = join(dir, e.name);
    if (e.isDirectory()) {
      out.push(`${rel}/\t`);
      await walk(full, rel, out);
    } else {
      const s = await stat(full).catch(() => null);
      // Size and mtime alone miss a new build copied with its times kept (cp -p, rsync -a, tar) whose files have
      // the old sizes; ctime changes with any new file or rewrite and no copy tool can set it. (Not the inode
      // number: FUSE file systems may renumber a file the kernel has forgotten, which would look like a change.)
      out.push(`${rel}\t${s ? `${s.size}\t${s.mtimeMs}\t${s.ctimeMs}` : 'gone'}`);
    }
  }
}

/**
 * --watch as the server starts it: null (and an error logged) when there is no root or it cannot be watched.
 * Events (fs.watch) by default; polling with `pollMs`, or every DEFAULT_POLL_MS on network and FUSE file systems.
 */
export async function startReasonerWatch(
  reasonersDir: string | null,
  registry: WatchedRegistry,
  log: Logger,
  options: WatchOptions = {},
): Promise<ReasonerWatcher | null> {
  if (!reasonersDir) {
    log.error('--watch needs --reasoners-dir (the directory to watch): not watching');
    return null;
  }
  let watcher: ReasonerWatcher | null = null;
  try {
    watcher = new ReasonerWatcher(reasonersDir, registry, log, { ...options, ...(await pollingNeeded(reasonersDir, options.pollMs)) });
    await watcher.start();
    return watcher;
  } catch (err) {
    await watcher?.stop();
    log.error({ root: reasonersDir, err: (err as Error).message }, 'cannot watch the modules root: not watching');
    return null;
  }
}
