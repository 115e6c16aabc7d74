import { setMaxListeners } from 'node:events';

/**
 * Readiness and draining. /ready is 503 until the model is loaded and from the first shutdown signal on;
 * new generation requests are refused while draining; requests in flight are counted so shutdown can wait.
 */
export class Lifecycle {
  ready = false;
  draining = false;
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly cutController = new AbortController();

  constructor() {
    // Every generation in flight listens to it.
    setMaxListeners(0, this.cutController.signal);
  }

  /** Aborts when the drain times out: generations still in flight then end with shutting_down. */
  get cutSignal(): AbortSignal {
    return this.cutController.signal;
  }

  cut(): void {
    this.cutController.abort();
  }

  begin(): void {
    this.active++;
  }

  end(): void {
    this.active--;
    if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  get inFlight(): number {
    return this.active;
  }

  /** Resolves when no request is in flight, or after `ms` (false then). */
  waitIdle(ms: number): Promise<boolean> {
    if (this.active === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
