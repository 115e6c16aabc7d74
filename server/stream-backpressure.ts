import type { FastifyBaseLogger } from 'fastify';

/** What can be paused: a GenerationRun's sequences, or all of a WebSocket's. */
export interface Pausable {
  setPaused(paused: boolean): void;
}

/**
 * Backpressure for one stream. When the client stops reading (the socket's buffer is full), the generation
 * is paused: its sequences leave the batch and stop producing, so what the server holds for the stream stays
 * bounded (the socket's write buffer, about 16 KiB, plus the frames of the one or two steps already under way).
 * When the buffer drains it resumes. Unread for `timeoutMs` (--stream-write-timeout), the stream is given up:
 * `giveUp` closes the connection, which cancels the generation and frees its caches; the reason is logged.
 */
export class StreamBackpressure {
  private paused = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly target: Pausable,
    private readonly timeoutMs: number,
    private readonly log: FastifyBaseLogger,
    private readonly fields: Record<string, unknown>,
    private readonly giveUp: () => void,
  ) {}

  get isPaused(): boolean {
    return this.paused;
  }

  blocked(): void {
    if (this.paused) return;
    this.paused = true;
    this.target.setPaused(true);
    if (this.timeoutMs > 0) {
      this.timer = setTimeout(() => {
        this.log.warn({ ...this.fields, streamWriteTimeoutS: this.timeoutMs / 1000 }, 'stream cancelled: the client did not read it within --stream-write-timeout');
        this.giveUp();
      }, this.timeoutMs);
      this.timer.unref();
    }
  }

  drained(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.target.setPaused(false);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
