import { UnirError } from '../common/errors.js';
import type { EngineClient } from '../engine/engine-client.js';
import type { ReasonerUse } from '../engine/generation-request.js';
import { modulePlacement, type ModulePlacement } from '../engine/device-owner.js';
import type { ExecutionProvider, SessionSettings } from '../models/execution-provider.js';
import type { WebGpuAdapter } from '../models/webgpu-adapter.js';
import { contentHash } from './content-hash.js';
import { directorySize } from './directory-size.js';
import { readManifest } from './manifest.js';
import { createModuleHost, type ModuleHost } from './module-host.js';
import { ModuleVersion, type VersionState } from './module-version.js';

export interface ReasonerSelection {
  name: string;
  weight?: number;
}

/** What a request holds while it runs: the versions it uses, released when it ends. */
export interface ReasonerLease {
  uses: ReasonerUse[];
  names: string[];
  /** The smallest context among the chosen modules (a module may have a shorter one than the base). */
  maxContext: number;
  release(): void;
}

export interface ReasonerInfo {
  name: string;
  version: string;
  description: string;
  default_weight: number;
  base: string | null;
  state: VersionState;
  in_flight: number;
  loaded_at: string | null;
  load_ms: number | null;
  size_bytes: number;
  /** sha256 of the module's files (adapters/content-hash.ts): equal on two replicas means the same bytes. */
  content_hash: string | null;
  path: string;
  vocab_size: number | null;
  error: string | null;
}

export interface RegistryEvents {
  onLoad?(name: string, ok: boolean): void;
  onUnload?(name: string): void;
  onRequest?(name: string): void;
}

/**
 * The reasoning modules being served, by name. A load happens in a worker and becomes visible atomically;
 * a replaced or unloaded version drains: requests in flight finish on it, then it is released.
 */
export class ReasonerRegistry {
  private nextVersionId = 1;
  private readonly current = new Map<string, ModuleVersion>();
  private readonly loading = new Map<string, ModuleVersion>();
  private readonly draining = new Set<ModuleVersion>();
  private readonly failures = new Map<string, { dir: string; error: string; at: Date }>();
  private readonly session: SessionSettings;
  private readonly host: ModuleHost;

  /** `session.ep` 'auto' means the provider the base runs on (modules share its device unless told otherwise). */
  constructor(
    private readonly engine: EngineClient,
    private readonly baseDir: string,
    session: SessionSettings,
    private readonly events: RegistryEvents = {},
  ) {
    const baseEp = engine.base.ep as ExecutionProvider;
    const ep = session.ep === 'auto' ? baseEp : session.ep;
    this.session = { ...session, ep };
    const placement = modulePlacement(baseEp, ep);
    if (session.logitsOnDevice && placement !== 'engine-thread') {
      throw new UnirError('invalid_request', `--fusion-site device needs the modules on the base's WebGPU device (modules on ${ep}, base on ${baseEp}): drop --module-ep, or use --fusion-site host`);
    }
    this.host = createModuleHost(placement, engine);
  }

  /** The provider module sessions run on. */
  get moduleEp(): ExecutionProvider {
    return this.session.ep as ExecutionProvider;
  }

  /** The WebGPU adapter module sessions run on (null unless the modules are on webgpu and it was found). */
  get adapter(): WebGpuAdapter | null {
    const probe = this.session.adapterProbe;
    return this.moduleEp === 'webgpu' && probe?.ok ? probe.adapter : null;
  }

  /** Where this registry's module sessions run: see engine/device-owner.ts. */
  get placement(): ModulePlacement {
    return this.host.placement;
  }

  has(name: string): boolean {
    return this.current.has(name);
  }

  names(): string[] {
    return [...this.current.keys()].sort();
  }

  /** The directory the current version of `name` was loaded from, or null when none is loaded. */
  pathOf(name: string): string | null {
    return this.current.get(name)?.dir ?? null;
  }

  /** Loads the module in `dir`; with `replace`, swaps it in for the version of the same name. */
  async load(dir: string, opts: { name?: string; defaultWeight?: number; replace?: boolean } = {}): Promise<ReasonerInfo> {
    let manifest;
    try {
      manifest = await readManifest(dir);
    } catch (err) {
      this.recordFailure(opts.name ?? dir, dir, err);
      throw err;
    }
    const name = opts.name ?? manifest.name;
    if ((this.current.has(name) || this.loading.has(name)) && !opts.replace) {
      throw new UnirError('reasoner_exists', `reasoning module ${name} is already loaded: set "replace": true to replace it`, 'name');
    }
    const [sizeBytes, hash] = await Promise.all([directorySize(dir), contentHash(dir)]);
    const version = new ModuleVersion(this.nextVersionId++, { ...manifest, name }, dir, opts.defaultWeight ?? manifest.default_weight, sizeBytes, hash);
    this.loading.set(name, version);
    try {
      await version.load(this.host, this.session, this.baseDir, (v) => this.onWorkerExit(v));
    } catch (err) {
      if (this.loading.get(name) === version) this.loading.delete(name);
      this.recordFailure(name, dir, err);
      this.events.onLoad?.(name, false);
      throw err;
    }
    if (this.loading.get(name) === version) this.loading.delete(name);
    version.state = 'ready';
    const old = this.current.get(name);
    this.current.set(name, version);
    this.failures.delete(name);
    if (old) this.retire(old);
    this.events.onLoad?.(name, true);
    return info(version);
  }

  /** New requests naming it get 404 at once; requests in flight finish on it; then it is released. */
  unload(name: string): ReasonerInfo {
    const version = this.current.get(name);
    if (!version) throw new UnirError('reasoner_not_found', `no reasoning module named ${name} is loaded`, 'name');
    this.current.delete(name);
    this.retire(version);
    this.events.onUnload?.(name);
    return info(version);
  }

  list(): ReasonerInfo[] {
    // A failure beside a current version of the same name is a failed replacement: shown too.
    const failed = [...this.failures.entries()].map(([name, f]) => failedInfo(name, f.dir, f.error));
    const loading = [...this.loading.values()].filter((v) => !this.current.has(v.name));
    return [...this.current.values(), ...loading, ...this.draining].map(info).concat(failed);
  }

  /** Resolves names to the current versions and holds them until the request ends. */
  acquire(selection: readonly ReasonerSelection[]): ReasonerLease {
    const seen = new Set<string>();
    const versions = selection.map((s) => {
      if (seen.has(s.name)) throw new UnirError('invalid_request', `reasoning module ${s.name} is named twice`, 'reasoners');
      seen.add(s.name);
      const v = this.current.get(s.name);
      if (!v) {
        const known = this.names();
        throw new UnirError('reasoner_not_found', `no reasoning module named ${s.name} is loaded${known.length ? ` (loaded: ${known.join(', ')})` : ''}`, 'reasoners');
      }
      return { v, weight: s.weight ?? v.defaultWeight };
    });
    for (const { v } of versions) {
      v.acquire();
      this.events.onRequest?.(v.name);
    }
    let released = false;
    return {
      uses: versions.map(({ v, weight }) => ({ versionId: v.versionId, weight })),
      names: versions.map(({ v }) => v.name),
      maxContext: Math.min(Number.MAX_SAFE_INTEGER, ...versions.map(({ v }) => v.summary?.maxPositions ?? Number.MAX_SAFE_INTEGER)),
      release: () => {
        if (released) return;
        released = true;
        for (const { v } of versions) v.release();
      },
    };
  }

  async close(): Promise<void> {
    const all = [...this.current.values(), ...this.draining, ...this.loading.values()];
    this.current.clear();
    this.draining.clear();
    for (const v of all) this.engine.detachModule(v.versionId);
    await Promise.all(all.map((v) => v.terminate()));
    await this.host.close();
  }

  private retire(version: ModuleVersion): void {
    this.draining.add(version);
    version.drain(() => {
      this.draining.delete(version);
      this.engine.detachModule(version.versionId);
      void version.terminate();
    });
  }

  /** A module worker that died: its requests already failed through the engine; stop offering it. */
  private onWorkerExit(version: ModuleVersion): void {
    if (this.current.get(version.name) === version) {
      this.current.delete(version.name);
      this.recordFailure(version.name, version.dir, new Error(version.error ?? 'module worker exited'));
    }
    this.draining.delete(version);
    this.engine.detachModule(version.versionId);
  }

  /** Drops the failure shown for `name` (its directory is gone, or an admin deleted it); true if there was one. */
  forgetFailure(name: string): boolean {
    return this.failures.delete(name);
  }

  /** Shown in GET /v1/reasoners (state failed) until a load of that name succeeds. */
  recordFailure(name: string, dir: string, err: unknown): void {
    this.failures.set(name, { dir, error: (err as Error).message ?? String(err), at: new Date() });
  }
}

function info(v: ModuleVersion): ReasonerInfo {
  return {
    name: v.name,
    version: v.manifest.version,
    description: v.manifest.description,
    default_weight: v.defaultWeight,
    base: v.manifest.base,
    state: v.state,
    in_flight: v.inFlight,
    loaded_at: v.loadedAt?.toISOString() ?? null,
    load_ms: v.summary ? Math.round(v.summary.loadMs) : null,
    size_bytes: v.sizeBytes,
    content_hash: v.contentHash,
    path: v.dir,
    vocab_size: v.summary?.vocabSize ?? null,
    error: v.error,
  };
}

function failedInfo(name: string, dir: string, error: string): ReasonerInfo {
  return {
    name, version: '', description: '', default_weight: 0, base: null, state: 'failed', in_flight: 0, loaded_at: null,
    load_ms: null, size_bytes: 0, content_hash: null, path: dir, vocab_size: null, error,
  };
}
