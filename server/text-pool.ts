import type { Worker } from 'node:worker_threads';
import { deserializeError, UnirError, type SerializedError } from '../common/errors.js';
import { spawnWorker } from '../engine/spawn-worker.js';
import { TEXT_TASKS, type TextEnv, type TextTaskArgs, type TextTaskName, type TextTaskResult } from './text-tasks.js';

/** What a text worker loads. */
export interface TextPoolData {
  modelDir: string;
  chatTemplate: string | null;
  modelId: string;
  maxContext: number;
}

export interface TextRequest {
  id: number;
  task: TextTaskName;
  args: unknown[];
}

export type TextReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/** Inputs up to this many characters (or token ids) are handled inline: well under a millisecond of work. */
export const INLINE_MAX = 2048;

interface Pending {
  request: TextRequest;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Tokenization, chat templating and detokenization off the event loop: up to `size` worker threads
 * (--text-workers), each with its own tokenizer, take tasks from one queue in order. A task on a small input runs
 * inline (a round trip would cost more than the work). Workers start with the first large task (loading a large
 * vocabulary takes seconds of CPU, which a server that never sees one should not pay); that task waits for one.
 * With size 0 everything runs inline. A worker that dies fails its task with internal_error and is replaced.
 */
export class TextPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private readonly all = new Set<Worker>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly env: TextEnv,
    private readonly data: TextPoolData,
    private readonly size: number,
  ) {}

  static async start(env: TextEnv, data: TextPoolData, size: number): Promise<TextPool> {
    return new TextPool(env, data, size);
  }

  /** Runs a task; `inputSize` (characters or token ids) decides whether it is worth a worker. */
  run<K extends TextTaskName>(task: K, args: TextTaskArgs<K>, inputSize: number): Promise<TextTaskResult<K>> {
    if (inputSize <= INLINE_MAX || this.size === 0) {
      try {
        return Promise.resolve((TEXT_TASKS[task] as (env: TextEnv, ...a: unknown[]) => TextTaskResult<K>)(this.env, ...(args as unknown[])));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, task, args: args as unknown[] }, resolve: resolve as (v: unknown) => void, reject });
      // One more worker while tasks wait and fewer than `size` exist.
      if (this.all.size < this.size && this.queue.length > this.idle.length) {
        this.spawn().catch((err) => {
          for (const p of this.all.size === 0 ? this.queue.splice(0) : []) p.reject(err);
        });
      }
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new UnirError('shutting_down', 'the server is shutting down'));
    const workers = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const next = this.queue.shift()!;
      this.busy.set(worker, next);
      worker.postMessage(next.request);
    }
  }

  private spawn(): Promise<void> {
    const worker = spawnWorker('./text-worker', import.meta.url, { workerData: this.data });
    this.all.add(worker);
    return new Promise((resolve, reject) => {
      worker.once('message', (first: TextReply) => {
        if (!first.ok) return reject(deserializeError(first.error));
        worker.on('message', (msg: TextReply) => this.onReply(worker, msg));
        this.idle.push(worker);
        this.dispatch();
        resolve();
      });
      worker.once('error', (err) => reject(new UnirError('internal_error', 'a text worker could not start', null, { detail: err.stack ?? err.message })));
      worker.on('exit', () => this.onExit(worker));
    });
  }

  private onReply(worker: Worker, msg: TextReply): void {
    const pending = this.busy.get(worker);
    this.busy.delete(worker);
    this.idle.push(worker);
    if (pending && pending.request.id === msg.id) {
      if (msg.ok) pending.resolve(msg.value);
      else pending.reject(deserializeError(msg.error));
    }
    this.dispatch();
  }

  private onExit(worker: Worker): void {
    this.all.delete(worker);
    const pending = this.busy.get(worker);
    this.busy.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at !== -1) this.idle.splice(at, 1);
    pending?.reject(new UnirError('internal_error', 'the text worker stopped', null, { detail: `task ${pending.request.task}` }));
    if (!this.closed && this.queue.length > 0) void this.spawn().catch(() => undefined);
  }
}
