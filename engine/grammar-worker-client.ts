import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { deserializeError, UnirError } from '../common/errors.js';
import type { FromGrammarWorker, GrammarWorkerOptions, GrammarWorkerStats, ToGrammarWorker } from '../grammar/grammar-protocol.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { spawnWorker } from './spawn-worker.js';

/**
 * The main thread's handle on an engine's grammar worker (grammar/grammar-worker.ts). The worker starts with
 * the first grammar (reading a 150k vocabulary takes a few hundred ms, and most servers never need one); its
 * channel to the engine worker is handed over through `attach`. If it dies, the next grammar starts another.
 */
export class GrammarWorkerClient {
  private worker: Worker | null = null;
  private nextRequestId = 1;
  private closing: Promise<void> = Promise.resolve();
  private readonly waiters = new Map<number, { resolve: (value: unknown) => void; reject: (err: UnirError) => void }>();

  constructor(
    private readonly options: Omit<GrammarWorkerOptions, 'enginePort'>,
    /** Gives the engine worker its end of the channel to a newly started grammar worker. */
    private readonly attach: (enginePort: MessagePort) => void,
  ) {}

  /** Starts the worker unless it runs. */
  ensure(): void {
    if (this.worker) return;
    const { port1, port2 } = new MessageChannel();
    const workerData: GrammarWorkerOptions = { ...this.options, enginePort: port1 };
    const worker = spawnWorker('../grammar/grammar-worker', import.meta.url, { workerData, transferList: [port1] });
    this.worker = worker;
    this.attach(port2);
    worker.on('message', (msg: FromGrammarWorker) => {
      const waiter = this.waiters.get(msg.requestId);
      this.waiters.delete(msg.requestId);
      if (!waiter) return;
      if (msg.type === 'compiled') {
        if (msg.error) waiter.reject(deserializeError(msg.error));
        else waiter.resolve(undefined);
      } else waiter.resolve(msg.stats);
    });
    const gone = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const w of this.waiters.values()) w.reject(new UnirError('internal_error', `the grammar worker ${why}`));
      this.waiters.clear();
    };
    worker.on('error', (err) => gone(`crashed: ${err.message}`));
    worker.on('exit', (code) => gone(`exited (code ${code})`));
  }

  /**
   * Compiles a spec (or finds it in the cache) so that one xgrammar cannot compile is refused before the
   * request is submitted; rejects with invalid_request naming xgrammar's reason.
   */
  compile(spec: GrammarSpec): Promise<void> {
    return this.request({ type: 'compile', requestId: 0, spec }) as Promise<void>;
  }

  stats(): Promise<GrammarWorkerStats> {
    return this.request({ type: 'stats', requestId: 0 }) as Promise<GrammarWorkerStats>;
  }

  /** Stops the worker (if it runs); every caller waits for the same termination. */
  close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    for (const w of this.waiters.values()) w.reject(new UnirError('shutting_down', 'the engine is shutting down'));
    this.waiters.clear();
    if (worker) this.closing = worker.terminate().then(() => undefined);
    return this.closing;
  }

  private request(msg: ToGrammarWorker): Promise<unknown> {
    this.ensure();
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      this.waiters.set(requestId, { resolve, reject });
      this.worker!.postMessage({ ...msg, requestId });
    });
  }
}
