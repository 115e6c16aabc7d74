/** Polling interval where events are not delivered and none was given (--watch on NFS, or fs.watch failed). */
export const DEFAULT_POLL_MS = 2000;

/** What the poller reads of the modules root (the watcher's listing and fingerprint). */
export interface PolledRoot {
  /** The subdirectories that may hold modules (hidden ones excluded). */
  entries(): Promise<string[]>;
  /** A key that changes whenever a file of the subdirectory is added, removed, resized or rewritten; null if gone. */
  look(entry: string): Promise<string | null>;
}

/**
 * The polling change source of --watch-poll, for modules roots where file-system events are not delivered
 * (a volume shared between hosts: NFS, SMB, CephFS, FUSE). Every `intervalMs` after the previous poll ended it
 * lists the root and takes each subdirectory's fingerprint (metadata only: names, sizes, mtimes, ctimes), then reports
 * the subdirectories that are new, changed or gone since the previous poll. It decides nothing itself: what a
 * change means (stable yet? load, replace, unload?) is the watcher's decision, the same as for an event.
 * The first poll reports every subdirectory, so nothing that changed before it started is missed.
 */
export class ModuleRootPoller {
  private last = new Map<string, string | null>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;

  /** Throws RangeError unless 1 <= intervalMs <= 2^31-1 (a Node.js timer fires after 1 ms beyond that). */
  constructor(
    private readonly root: PolledRoot,
    readonly intervalMs: number,
    private readonly changed: (entry: string) => void,
    private readonly failed: (err: Error) => void,
  ) {
    if (!(intervalMs >= 1 && intervalMs <= 2 ** 31 - 1)) throw new RangeError(`poll interval ${intervalMs} ms: expected 1 to 2^31-1 ms`);
  }

  start(): void {
    this.next(0);
  }

  /** No poll starts after this; waits for the one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }

  /** One poll: the subdirectories that are new, changed or gone since the previous one. */
  async poll(): Promise<string[]> {
    const now = new Map<string, string | null>();
    for (const entry of await this.root.entries()) {
      // An unreadable subdirectory (EACCES, ESTALE on NFS) counts as changed until it reads again.
      now.set(entry, await this.root.look(entry).catch((err: Error) => `unreadable: ${err.message}`));
    }
    const changed = [...now].filter(([entry, key]) => !this.last.has(entry) || this.last.get(entry) !== key).map(([entry]) => entry);
    for (const entry of this.last.keys()) if (!now.has(entry)) changed.push(entry);
    this.last = now;
    return changed;
  }

  private next(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().then(
        (entries) => entries.forEach((e) => this.changed(e)),
        // The root itself unreadable (a network hiccup): keep the last picture, try again next time.
        (err: Error) => this.failed(err),
      ).finally(() => this.next(this.intervalMs));
    }, delayMs);
    this.timer.unref();
  }
}
