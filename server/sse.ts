import type { FastifyReply } from 'fastify';
import { errorContext, publicError } from './error-response.js';
import { StreamBackpressure, type Pausable } from './stream-backpressure.js';

/** Server-sent events on a hijacked reply: `data: <json>\n\n` frames, then `data: [DONE]`. */
export class SseWriter {
  private closed = false;
  private backpressure: StreamBackpressure | null = null;

  constructor(private readonly reply: FastifyReply) {
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // Proxies such as nginx buffer responses unless told not to.
      'x-accel-buffering': 'no',
    });
    reply.raw.on('close', () => (this.closed = true));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Pauses `run` while the client does not read, gives the stream up after `timeoutS` (StreamBackpressure). */
  pauseWhileUnread(run: Pausable, timeoutS: number): void {
    const req = this.reply.request;
    const raw = this.reply.raw;
    this.backpressure = new StreamBackpressure(run, timeoutS * 1000, req.log, { remoteAddress: req.ip }, () => raw.destroy());
    raw.on('drain', () => this.backpressure?.drained());
    raw.on('close', () => this.backpressure?.close());
  }

  send(data: unknown): void {
    if (this.closed) return;
    if (!this.reply.raw.write(`data: ${JSON.stringify(data)}\n\n`)) this.backpressure?.blocked();
  }

  /** An error event in OpenAI's shape (a 5xx names the request id; the log has its details). */
  error(err: unknown): void {
    this.send(publicError(err, errorContext(this.reply.request)));
  }

  done(): void {
    this.backpressure?.close();
    if (this.closed) return;
    this.reply.raw.end('data: [DONE]\n\n');
    this.closed = true;
  }
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
