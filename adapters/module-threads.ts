import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../engine/spawn-worker.js';

/** Threads kept idle for the next load; beyond them an unloaded version's thread ends. */
const MAX_IDLE = 2;

/**
 * The worker threads that run reasoning modules, reused from one version to the next. A thread that ends leaves
 * what glibc's malloc gave it behind, fragmented in the arena it used (measured: RSS grew from 348 to 522 MiB
 * over 50 hot replacements, one new thread each, and stayed; with MALLOC_ARENA_MAX=2 it did not grow). A reused
 * thread's next session allocates in the same arena, into the space the previous one freed.
 */
export class ModuleThreads {
  private readonly idle = new Set<Worker>();
  private closed = false;

  /** An idle thread, or a new one. */
  acquire(): Worker {
    const [reused] = this.idle;
    if (reused) {
      this.idle.delete(reused);
      reused.removeAllListeners('exit');
      return reused;
    }
    return spawnWorker('./module-worker', import.meta.url, {});
  }

  /** Takes back a thread whose version was unloaded (its session freed): kept idle, or ended. */
  park(worker: Worker): void {
    // Named events only: removeAllListeners() would also drop Node's own newListener hooks, and the next
    // version's 'message' listener would never start the port.
    for (const event of ['message', 'error', 'exit']) worker.removeAllListeners(event);
    if (this.closed || this.idle.size >= MAX_IDLE) {
      void worker.terminate();
      return;
    }
    this.idle.add(worker);
    worker.once('exit', () => this.idle.delete(worker));
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.idle];
    this.idle.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
