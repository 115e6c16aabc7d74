import type { MessagePort, Worker } from 'node:worker_threads';
import { deserializeError, UnirError } from '../common/errors.js';
import type { GrammarWorkerStats } from '../grammar/grammar-protocol.js';
import type { EngineHealth } from './engine-health.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { GrammarWorkerClient } from './grammar-worker-client.js';
import type { EngineStats } from './engine-stats.js';
import { EventStream } from './event-stream.js';
import type { GenerationRequest, SequenceEvent } from './generation-request.js';
import type { ModelSummary } from './model-summary.js';
import type { EngineOptions, FromEngine, ModuleLoad, ToEngine } from './protocol.js';
import { spawnWorker } from './spawn-worker.js';

/** A submitted sequence's events; `seqId` names it to cancel or pause it. */
export type SequenceStream = AsyncIterable<SequenceEvent> & { readonly seqId: number };

export interface EngineClientOptions extends EngineOptions {
  /** Requests that may wait for a batch slot; beyond it submit() refuses with queue_full. */
  maxQueue: number;
}

/**
 * The main thread's handle on the engine worker. submit() returns the sequence's events as an async
 * iterable; aborting the signal cancels the sequence, which leaves the batch within one step.
 */
export class EngineClient {
  private nextSeqId = 1;
  private nextStatsId = 1;
  private readonly streams = new Map<number, EventStream<SequenceEvent>>();
  private readonly statsWaiters = new Map<number, (s: EngineStats) => void>();
  private readonly moduleLoads = new Map<number, { resolve: (s: ModelSummary) => void; reject: (e: Error) => void }>();
  private onClosed: (() => void) | null = null;
  private exited = false;
  private fatal: UnirError | null = null;
  private reported: EngineHealth = { healthy: true, reason: null };
  /** The grammar worker: xgrammar's compiler, cache and matchers, off the engine's step loop. */
  private readonly grammars: GrammarWorkerClient;

  private constructor(
    private readonly worker: Worker,
    readonly base: ModelSummary,
    private readonly options: EngineClientOptions,
  ) {
    worker.on('message', (msg: FromEngine) => this.onMessage(msg));
    worker.on('error', (err) => this.die(new UnirError('internal_error', 'the engine stopped', null, { detail: `engine worker crashed: ${err.stack ?? err.message}` })));
    worker.on('exit', (code) => {
      this.exited = true;
      this.die(new UnirError('internal_error', 'the engine stopped', null, { detail: `engine worker exited (code ${code})` }));
    });
    this.grammars = new GrammarWorkerClient(
      { tokenizerPath: base.tokenizerPath!, vocabSize: base.vocabSize, eosTokenIds: base.eosTokenIds ?? [] },
      (port) => this.worker.postMessage({ type: 'attach-grammar', port } satisfies ToEngine, [port]),
    );
  }

  static async start(options: EngineClientOptions): Promise<EngineClient> {
    const worker = spawnWorker('./engine-worker', import.meta.url, { workerData: options });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Worker.on takes any listener
    const listeners: { event: string; fn: (...args: any[]) => void }[] = [];
    const on = (event: string, fn: (...args: any[]) => void) => {
      listeners.push({ event, fn });
      worker.on(event, fn);
    };
    const base = await new Promise<ModelSummary>((resolve, reject) => {
      on('message', (msg: FromEngine) => {
        if (msg.type === 'ready') resolve(msg.base);
        else if (msg.type === 'fatal') reject(deserializeError(msg.error));
      });
      on('error', reject);
      on('exit', (code: number) => reject(new UnirError('internal_error', `engine worker exited during start (code ${code})`)));
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    for (const l of listeners) worker.off(l.event, l.fn);
    return new EngineClient(worker, base, options);
  }

  /** Whether the engine can serve: false once its worker is gone or it reported a state it cannot recover from. */
  get health(): EngineHealth {
    if (this.fatal && this.fatal.code !== 'shutting_down') return { healthy: false, reason: `${this.fatal.message}${this.fatal.detail ? `: ${this.fatal.detail.split('\n')[0]}` : ''}` };
    return this.reported;
  }

  /** Sequences submitted and not yet done (running, prefilling or waiting). */
  get inFlight(): number {
    return this.streams.size;
  }

  /** Throws queue_full unless `count` more sequences fit the batch plus the queue. */
  reserve(count: number): void {
    if (this.fatal) throw this.fatal;
    if (this.streams.size + count > this.options.maxBatch + this.options.maxQueue) {
      throw new UnirError('queue_full', `the server is at capacity (${this.options.maxBatch} running, ${this.options.maxQueue} waiting): retry later`);
    }
  }

  submit(request: GenerationRequest, signal?: AbortSignal): SequenceStream {
    if (this.fatal) throw this.fatal;
    const seqId = this.nextSeqId++;
    const stream = Object.assign(new EventStream<SequenceEvent>(), { seqId });
    this.streams.set(seqId, stream);
    if (signal) {
      if (signal.aborted) queueMicrotask(() => this.cancel(seqId));
      else signal.addEventListener('abort', () => this.cancel(seqId), { once: true });
    }
    if (request.grammar) this.grammars.ensure();
    this.post({ type: 'submit', seqId, request });
    return stream;
  }

  /** Backpressure: the sequence leaves the batch (caches kept) until resumed. */
  setPaused(seqId: number, paused: boolean): void {
    if (this.streams.has(seqId)) this.post({ type: 'pause', seqId, paused });
  }

  cancel(seqId: number): void {
    if (this.streams.has(seqId)) this.post({ type: 'cancel', seqId });
  }

  attachModule(versionId: number, name: string, port: MessagePort, summary: ModelSummary): void {
    this.worker.postMessage({ type: 'attach-module', versionId, name, port, summary } satisfies ToEngine, [port]);
  }

  /** Loads a module into the engine thread (the owner of the base's device) and attaches it there. */
  loadModule(load: ModuleLoad): Promise<ModelSummary> {
    if (this.fatal) return Promise.reject(this.fatal);
    return new Promise((resolve, reject) => {
      this.moduleLoads.set(load.versionId, { resolve, reject });
      this.post({ type: 'load-module', load });
    });
  }

  detachModule(versionId: number): void {
    this.post({ type: 'detach-module', versionId });
  }

  stats(): Promise<EngineStats> {
    const requestId = this.nextStatsId++;
    return new Promise((resolve) => {
      this.statsWaiters.set(requestId, resolve);
      this.post({ type: 'stats', requestId });
    });
  }

  /**
   * Compiles a grammar in the grammar worker (or finds it in its cache) before a request that uses it is
   * submitted, so a spec xgrammar refuses becomes a 400 before any response starts. Neither this thread nor
   * the engine's step loop waits on the compile.
   */
  compileGrammar(spec: GrammarSpec): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    return this.grammars.compile(spec);
  }

  /** The grammar worker's counters (compiles, cache hits, runtimes, probe instances, open matchers). */
  grammarStats(): Promise<GrammarWorkerStats> {
    return this.grammars.stats();
  }

  /** Stops the engine; its sessions are released (bounded wait: a device must not be left mid-run) before the thread ends. */
  async close(releaseTimeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    const closed = new Promise<void>((resolve) => {
      this.onClosed = resolve;
      this.worker.once('exit', () => resolve());
      setTimeout(resolve, releaseTimeoutMs).unref();
    });
    this.post({ type: 'shutdown' });
    this.die(new UnirError('shutting_down', 'the engine is shutting down'));
    await Promise.all([closed.then(() => this.worker.terminate()), this.grammars.close()]);
  }

  private post(msg: ToEngine): void {
    this.worker.postMessage(msg);
  }

  private onMessage(msg: FromEngine): void {
    if (msg.type === 'events') {
      for (const e of msg.events) {
        const stream = this.streams.get(e.seqId);
        if (!stream) continue;
        stream.push(e);
        if (e.kind === 'done') {
          this.streams.delete(e.seqId);
          stream.end();
        }
      }
    } else if (msg.type === 'stats') {
      this.statsWaiters.get(msg.requestId)?.(msg.stats);
      this.statsWaiters.delete(msg.requestId);
    } else if (msg.type === 'health') {
      this.reported = msg.health;
    } else if (msg.type === 'module-loaded' || msg.type === 'module-load-failed') {
      const waiter = this.moduleLoads.get(msg.versionId);
      this.moduleLoads.delete(msg.versionId);
      if (msg.type === 'module-loaded') waiter?.resolve(msg.summary);
      else waiter?.reject(deserializeError(msg.error));
    } else if (msg.type === 'closed') {
      this.onClosed?.();
    } else if (msg.type === 'fatal') {
      this.die(deserializeError(msg.error));
    }
  }

  private die(err: UnirError): void {
    this.fatal ??= err;
    for (const s of this.streams.values()) s.fail(err);
    this.streams.clear();
    for (const w of this.moduleLoads.values()) w.reject(err);
    this.moduleLoads.clear();
    void this.grammars?.close();
  }
}
