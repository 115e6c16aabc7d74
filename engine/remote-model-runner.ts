import type { MessagePort } from 'node:worker_threads';
import { deserializeError, UnirError } from '../common/errors.js';
import type { RunLogits, RunRow } from '../models/decoder-runner.js';
import type { ModelRunner } from './model-runner.js';
import type { FromModelWorker, ToModelWorker } from './protocol.js';

/** A module in its own worker thread, reached over a MessagePort; its runs overlap the base's. */
export class RemoteModelRunner implements ModelRunner {
  private nextRunId = 1;
  private readonly pending = new Map<number, { resolve: (l: RunLogits) => void; reject: (e: Error) => void }>();
  private closedWith: UnirError | null = null;
  ortMs = 0;

  constructor(
    private readonly port: MessagePort,
    private readonly name: string,
  ) {
    port.on('message', (msg: FromModelWorker) => this.onMessage(msg));
    port.on('close', () => this.fail(new UnirError('reasoner_failed', `reasoning module ${name} stopped`)));
  }

  run(rows: RunRow[]): Promise<RunLogits> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const runId = this.nextRunId++;
    return new Promise((resolve, reject) => {
      this.pending.set(runId, { resolve, reject });
      this.post({ type: 'run', runId, rows });
    });
  }

  release(seqIds: number[]): void {
    if (!this.closedWith && seqIds.length > 0) this.post({ type: 'release', seqIds });
  }

  /** Posted, not awaited: the worker runs it in order with the runs, before the next one. */
  async isolate(seqIds: number[]): Promise<void> {
    if (!this.closedWith && seqIds.length > 0) this.post({ type: 'isolate', seqIds });
  }

  /** The worker side releases the session (ModuleHost.unload); here the port closes and waiting runs fail. */
  async close(): Promise<void> {
    this.fail(new UnirError('reasoner_failed', `reasoning module ${this.name} was detached`));
    this.port.close();
  }

  private post(msg: ToModelWorker): void {
    this.port.postMessage(msg);
  }

  private onMessage(msg: FromModelWorker): void {
    const waiter = this.pending.get(msg.runId);
    if (!waiter) return;
    this.pending.delete(msg.runId);
    if (msg.type === 'run-result') {
      this.ortMs += msg.ortMs;
      waiter.resolve({ data: msg.logits, rows: msg.rows, vocab: msg.vocab });
    } else {
      const err = deserializeError(msg.error);
      const detail = `${err.message}${err.detail ? `: ${err.detail}` : ''}`;
      waiter.reject(new UnirError('reasoner_failed', `reasoning module ${this.name} failed at run time`, null, { detail }));
    }
  }

  private fail(err: UnirError): void {
    this.closedWith ??= err;
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
  }
}
