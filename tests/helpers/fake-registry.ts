import type { ReasonerInfo } from '../../adapters/reasoner-registry.js';
import type { WatchedRegistry } from '../../adapters/reasoner-watch.js';
import { UnirError } from '../../common/errors.js';

/** Records what the watcher asks of the registry; a load of a directory named in `failing` throws. */
export class FakeRegistry implements WatchedRegistry {
  readonly loads: { dir: string; name?: string; replace?: boolean }[] = [];
  readonly unloads: string[] = [];
  readonly current = new Map<string, string>();
  readonly failures = new Map<string, string>();
  readonly failing = new Set<string>();

  async load(dir: string, opts: { name?: string; replace?: boolean } = {}): Promise<ReasonerInfo> {
    this.loads.push({ dir, ...opts });
    await new Promise((r) => setTimeout(r, 20));
    if (this.failing.has(dir)) {
      this.failures.set(opts.name!, dir);
      throw new UnirError('invalid_model_dir', 'corrupt');
    }
    this.current.set(opts.name!, dir);
    this.failures.delete(opts.name!);
    return { name: opts.name!, version: '1', load_ms: 1 } as ReasonerInfo;
  }
  unload(name: string): ReasonerInfo {
    this.unloads.push(name);
    this.current.delete(name);
    return { name } as ReasonerInfo;
  }
  pathOf(name: string): string | null {
    return this.current.get(name) ?? null;
  }
  list(): ReasonerInfo[] {
    return [...this.failures].map(([name, path]) => ({ name, path, state: 'failed' }) as ReasonerInfo);
  }
  recordFailure(name: string, dir: string): void {
    this.failures.set(name, dir);
  }
  forgetFailure(name: string): boolean {
    return this.failures.delete(name);
  }
}
