/**
 * A column's timing, from the page's side of the socket (milliseconds from performance.now()):
 * time to first token = first token frame - generate sent; tokens/s = decode rate after the first token,
 * (tokens - 1) / (last token - first token), as llama.cpp's server reports its predicted tokens per second.
 */
export class RunStats {
  tokens = 0;
  private firstAt: number | null = null;
  private lastAt: number | null = null;

  constructor(private readonly sentAt: number) {}

  token(at: number): void {
    this.tokens++;
    this.firstAt ??= at;
    this.lastAt = at;
  }

  /** null until the first token. */
  get timeToFirstTokenMs(): number | null {
    return this.firstAt === null ? null : this.firstAt - this.sentAt;
  }

  /** null until two tokens came at different times. */
  get tokensPerSecond(): number | null {
    if (this.firstAt === null || this.lastAt === null || this.tokens < 2 || this.lastAt <= this.firstAt) return null;
    return ((this.tokens - 1) * 1000) / (this.lastAt - this.firstAt);
  }
}
