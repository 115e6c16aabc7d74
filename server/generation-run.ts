import { setMaxListeners } from 'node:events';
import { UnirError } from '../common/errors.js';
import type { SequenceEvent } from '../engine/generation-request.js';
import { EventStream } from '../engine/event-stream.js';
import type { AppContext } from './app-context.js';
import type { GenerationPlan } from './generation-plan.js';

export interface ChoiceEvent {
  index: number;
  event: SequenceEvent;
}

/**
 * Submits a plan's n sequences and yields their events tagged with the choice index. Holds the request's
 * modules until the engine has finished every sequence (so a draining module is released only then), cancels
 * them when the signal aborts (client gone) or the request timeout passes, and records the metrics.
 */
export class GenerationRun implements AsyncIterable<ChoiceEvent> {
  private readonly merged = new EventStream<ChoiceEvent>();
  private readonly controller = new AbortController();
  private readonly seqIds: number[] = [];
  private timedOut = false;
  /** Cancelled because the server's drain timed out. */
  private cut = false;

  constructor(
    private readonly ctx: AppContext,
    private readonly plan: GenerationPlan,
    private readonly endpoint: string,
    clientSignal: AbortSignal,
  ) {
    if (ctx.lifecycle.draining) {
      plan.lease.release();
      throw new UnirError('shutting_down', 'the server is shutting down and takes no new requests');
    }
    try {
      ctx.engine.reserve(plan.requests.length);
    } catch (err) {
      plan.lease.release();
      throw err;
    }
    ctx.lifecycle.begin();
    // The engine listens once per sequence (n up to 16).
    setMaxListeners(plan.requests.length + 1, this.controller.signal);
    const abort = () => this.controller.abort();
    if (clientSignal.aborted) abort();
    else clientSignal.addEventListener('abort', abort, { once: true });
    const cutSignal = ctx.lifecycle.cutSignal;
    const onCut = () => ((this.cut = true), abort());
    cutSignal.addEventListener('abort', onCut, { once: true });
    const timeoutMs = ctx.options.requestTimeout * 1000;
    const timer = timeoutMs > 0 ? setTimeout(() => ((this.timedOut = true), abort()), timeoutMs) : null;
    const started = performance.now();
    let remaining = plan.requests.length;
    const finishOne = () => {
      if (--remaining > 0) return;
      if (timer) clearTimeout(timer);
      clientSignal.removeEventListener('abort', abort);
      cutSignal.removeEventListener('abort', onCut);
      plan.lease.release();
      ctx.lifecycle.end();
      this.merged.end();
    };
    plan.requests.forEach((request, index) => {
      const events = ctx.engine.submit(request, this.controller.signal);
      this.seqIds.push(events.seqId);
      void this.pump(index, events, started).finally(finishOne);
    });
  }

  /** Backpressure: the run's sequences leave the batch (caches kept) until resumed. */
  setPaused(paused: boolean): void {
    for (const id of this.seqIds) this.ctx.engine.setPaused(id, paused);
  }

  /** Every prompt's tokens, each counted once. */
  get promptTokens(): number {
    return this.plan.promptTokens;
  }

  [Symbol.asyncIterator](): AsyncIterator<ChoiceEvent> {
    return this.merged[Symbol.asyncIterator]();
  }

  private async pump(index: number, events: AsyncIterable<SequenceEvent>, started: number): Promise<void> {
    const m = this.ctx.metrics;
    let last: number | null = null;
    try {
      for await (const event of events) {
        const now = performance.now();
        if (event.kind === 'token') {
          if (last === null) m.timeToFirstToken.observe((now - started) / 1000);
          else m.interTokenLatency.observe((now - last) / 1000);
          last = now;
          m.generationTokens.inc();
        } else {
          m.e2eLatency.observe((now - started) / 1000);
          m.queueTime.observe(event.queueMs / 1000);
          m.promptTokens.inc(event.promptTokens);
          if (event.gate) {
            m.gateModuleSteps.inc({ outcome: 'run' }, event.gate.moduleSteps - event.gate.skipped);
            m.gateModuleSteps.inc({ outcome: 'skipped' }, event.gate.skipped);
          }
          if (event.finishReason === 'cancelled' && this.timedOut) {
            event.finishReason = 'error';
            event.error = { code: 'request_timeout', message: `the request took longer than --request-timeout (${this.ctx.options.requestTimeout} s)`, param: null };
          } else if (event.finishReason === 'cancelled' && this.cut) {
            event.finishReason = 'error';
            event.error = { code: 'shutting_down', message: `the server shut down before this request finished (--drain-timeout ${this.ctx.options.drainTimeout} s)`, param: null };
          }
          m.requests.inc({ endpoint: this.endpoint, finish_reason: event.finishReason });
        }
        this.merged.push({ index, event });
      }
    } catch (err) {
      this.merged.fail(err);
    }
  }
}
