import type { Worker } from 'node:worker_threads';
import { createLogprobScratch } from '../kernels/logprobs.js';
import { runSampleJob, type SampleJob, type SampleOutcome } from '../kernels/sample-job.js';
import { createSamplerScratch, isGreedy } from '../kernels/token-sampler.js';
import { spawnWorker } from './spawn-worker.js';

/** Messages between the engine thread and a sampler worker. */
export type ToSamplerWorker =
  | { type: 'buffer'; buffer: SharedArrayBuffer; capacity: number; vocab: number }
  | { type: 'run'; runId: number; slots: number[]; jobs: SampleJob[] };
export type FromSamplerWorker = { runId: number; outcomes: SampleOutcome[] | null; error?: string };

/** Where a step's rows are fused (row i of the step in rows[i]; raws[i] is its copy before processors). */
export interface SampleRows {
  rows: Float32Array[];
  raws: Float32Array[];
}

/** Row views over `buffer`: `capacity` processed rows, then `capacity` raw rows, `vocab` floats each. */
export function rowViews(buffer: ArrayBufferLike, capacity: number, vocab: number, count: number): SampleRows {
  const rows: Float32Array[] = [];
  const raws: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    rows.push(new Float32Array(buffer, i * vocab * 4, vocab));
    raws.push(new Float32Array(buffer, (capacity + i) * vocab * 4, vocab));
  }
  return { rows, raws };
}

const scratch = { sampler: createSamplerScratch(), logprobs: createLogprobScratch() };

/**
 * Samples the rows of a step. The per-row work after fusion and processors (kernels/sample-job.ts: logprobs, the
 * filters' scans and cuts, the draw's walk) is split across this thread and `threads` sampler workers, which read
 * the rows from shared memory (no copy): a batch's sampling costs about 1 / (threads + 1) of its time on the
 * engine thread. With 0 threads, or fewer rows worth moving than `minRows`, or a vocabulary below `minVocab`
 * (where a message round trip costs more than the row), everything runs here. The results are the same either way: the jobs
 * carry their draws.
 */
export class SamplerPool {
  private buffer: ArrayBuffer | SharedArrayBuffer = new ArrayBuffer(0);
  private capacity = 0;
  private readonly workers: Worker[] = [];
  private readonly waiters = new Map<number, (r: FromSamplerWorker) => void>();
  private nextRunId = 1;
  private broken = false;
  /** Rows sampled by the workers so far (the rest ran on the engine thread). */
  offThreadRows = 0;

  constructor(
    private readonly vocab: number,
    threads: number,
    private readonly minVocab = 16_384,
    private readonly minRows = 2,
  ) {
    // Below minVocab the pool never moves a row: no threads are started for it.
    for (let i = 0; i < (vocab >= minVocab ? threads : 0); i++) {
      const worker = spawnWorker('./sampler-worker', import.meta.url, {});
      worker.on('message', (msg: FromSamplerWorker) => {
        this.waiters.get(msg.runId)?.(msg);
        this.waiters.delete(msg.runId);
      });
      // A sampler worker that dies leaves its share to this thread from then on.
      worker.on('error', () => this.fallBack());
      worker.on('exit', () => this.fallBack());
      worker.unref();
      this.workers.push(worker);
    }
  }

  get threads(): number {
    return this.broken ? 0 : this.workers.length;
  }

  /** The rows a step of `count` sequences fuses into (valid until the next call). */
  rows(count: number): SampleRows {
    if (count > this.capacity) {
      this.capacity = Math.max(count, this.capacity * 2);
      const bytes = 2 * this.capacity * this.vocab * 4;
      this.buffer = this.workers.length > 0 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
      for (const w of this.workers) {
        w.postMessage({ type: 'buffer', buffer: this.buffer as SharedArrayBuffer, capacity: this.capacity, vocab: this.vocab } satisfies ToSamplerWorker);
      }
    }
    return rowViews(this.buffer, this.capacity, this.vocab, count);
  }

  /**
   * Samples jobs[i] from rows(jobs.length).rows[i] (and raws[i] for logprobs). Greedy rows without logprobs (one
   * compare per id) stay on this thread; the others are shared out.
   */
  async run(jobs: SampleJob[]): Promise<SampleOutcome[]> {
    const { rows, raws } = rowViews(this.buffer, this.capacity, this.vocab, jobs.length);
    const local = (slot: number) => runSampleJob(rows[slot], jobs[slot].logprobs !== null ? raws[slot] : null, jobs[slot], scratch);
    const threads = this.threads;
    const heavy = jobs.flatMap((job, slot) => (isGreedy(job) && job.logprobs === null ? [] : [slot]));
    if (threads === 0 || heavy.length < this.minRows || this.vocab < this.minVocab) return jobs.map((_, slot) => local(slot));

    // The workers take equal shares of the heavy rows; this thread takes what is left, and the light rows.
    const outcomes: SampleOutcome[] = new Array(jobs.length);
    const share = Math.floor(heavy.length / (threads + 1));
    const remote: Promise<void>[] = [];
    const kept = new Set(heavy.slice(threads * share));
    for (let w = 0; w < threads && share > 0; w++) {
      const slots = heavy.slice(w * share, (w + 1) * share);
      remote.push(
        this.post(this.workers[w], slots, slots.map((slot) => jobs[slot])).then((r) => {
          if (r === null) slots.forEach((slot) => (outcomes[slot] = local(slot)));
          else {
            slots.forEach((slot, k) => (outcomes[slot] = r[k]));
            this.offThreadRows += slots.length;
          }
        }),
      );
    }
    jobs.forEach((_, slot) => {
      if (kept.has(slot) || !heavy.includes(slot)) outcomes[slot] = local(slot);
    });
    await Promise.all(remote);
    return outcomes;
  }

  async close(): Promise<void> {
    this.broken = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private post(worker: Worker, slots: number[], jobs: SampleJob[]): Promise<SampleOutcome[] | null> {
    const runId = this.nextRunId++;
    return new Promise((resolve) => {
      this.waiters.set(runId, (r) => resolve(r.outcomes));
      worker.postMessage({ type: 'run', runId, slots, jobs } satisfies ToSamplerWorker);
    });
  }

  private fallBack(): void {
    this.broken = true;
    // Runs in flight on a dead worker are redone here (a null result means: do it locally).
    for (const [runId, resolve] of this.waiters) resolve({ runId, outcomes: null });
    this.waiters.clear();
  }
}
