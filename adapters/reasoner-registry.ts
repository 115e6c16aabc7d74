import { UnirError } from '../common/errors.js';
import type { EngineClient } from '../engine/engine-client.js';
import type { ReasonerUse } from '../engine/generation-request.js';
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import { modulePlacement, type ModulePlacement } from '../engine/device-owner.js';
import type { ExecutionProvider, SessionSettings } from '../models/execution-provider.js';
import type { OnnxChoice } from '../models/onnx-variant.js';
import type { WebGpuAdapter } from '../models/webgpu-adapter.js';
import { contentHash } from './content-hash.js';
import { createModuleHost, type ModuleHost } from './module-host.js';
import { LoadAttempt } from './module-load.js';
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
  /** The ONNX file served (relative to path), its size in bytes and its external data. */
  onnx: { file: string; bytes: number; external_data: { file: string; bytes: number }[] } | null;
  error: string | null;
}

export interface RegistryOptions {
  /** --reasoners-dir: a module under it may link anywhere inside it; any other module directory is its own root. */
  modulesRoot?: string | null;
  /** A load (copy, checks, worker, session) taking longer fails with load_timeout and frees what it took; 0: no limit. */
  loadTimeoutMs?: number;
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
  private readonly attempts = new Set<LoadAttempt>();
  private closed = false;
  private readonly session: SessionSettings;
  private readonly host: ModuleHost;

  /** `session.ep` 'auto' means the provider the base runs on (modules share its device unless told otherwise). */
  constructor(
    private readonly engine: EngineClient,
    private readonly baseDir: string,
    session: SessionSettings,
    private readonly events: RegistryEvents = {},
    private readonly options: RegistryOptions = {},
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

  /**
   * Loads the module in `dir`; with `replace`, swaps it in for the version of the same name. The directory is
   * copied and checked first (LoadAttempt, module-files.ts): the same rule at start-up, in the watcher and in
   * the admin API. A failed or timed-out load frees its worker, session and copy, and is recorded.
   */
  async load(dir: string, opts: { name?: string; defaultWeight?: number; replace?: boolean; onnx?: OnnxChoice } = {}): Promise<ReasonerInfo> {
    if (this.closed) throw new UnirError('shutting_down', 'the server is shutting down and loads no modules');
    const attempt = new LoadAttempt(dir, this.rootOf(dir), this.shownPath(dir), this.options.loadTimeoutMs ?? 0);
    this.attempts.add(attempt);
    let version: ModuleVersion | null = null;
    let name = opts.name ?? basename(dir);
    try {
      const staged = await attempt.stage();
      name = opts.name ?? staged.manifest.name;
      if ((this.current.has(name) || this.loading.has(name)) && !opts.replace) {
        throw new UnirError('reasoner_exists', `reasoning module ${name} is already loaded: set "replace": true to replace it`, 'name');
      }
      // Hashed from the copy: the bytes that are loaded, whatever happens to the directory meanwhile.
      const hash = await contentHash(staged.stagedDir);
      version = new ModuleVersion(this.nextVersionId++, { ...staged.manifest, name }, dir, opts.defaultWeight ?? staged.manifest.default_weight, staged.sizeBytes, hash);
      // The request's choice of ONNX variant wins over the manifest's.
      version.onnxChoice = opts.onnx ?? { dtype: staged.manifest.dtype, onnxFile: staged.manifest.onnx_file };
      this.loading.set(name, version);
      // The copy's path is new at every load: the logits graph cache keys it by content instead.
      await version.load(this.host, { ...this.session, graphCacheKey: hash }, this.baseDir, staged.stagedDir, (v) => this.onWorkerExit(v), attempt.signal);
    } catch (err) {
      const reported = attempt.explain(err);
      if (version && this.loading.get(name) === version) this.loading.delete(name);
      if (reported.code !== 'reasoner_exists') {
        this.recordFailure(name, dir, reported);
        this.events.onLoad?.(name, false);
      }
      throw reported;
    } finally {
      this.attempts.delete(attempt);
      await attempt.finish();
    }
    const loaded = version!;
    if (this.loading.get(name) === loaded) this.loading.delete(name);
    loaded.state = 'ready';
    const old = this.current.get(name);
    this.current.set(name, loaded);
    this.failures.delete(name);
    if (old) this.retire(old);
    this.events.onLoad?.(name, true);
    return info(loaded);
  }

  /** The modules root when `dir` lies under it; else the directory itself (links must stay inside it). */
  private rootOf(dir: string): string {
    const root = this.options.modulesRoot;
    return root && isUnder(root, dir) ? resolve(root) : resolve(dir);
  }

  /** How clients see a module directory: its path relative to the modules root, else its name. */
  shownPath(dir: string): string {
    const root = this.options.modulesRoot;
    if (root && isUnder(root, dir)) return relative(resolve(root), resolve(dir)).split(sep).join('/') || '.';
    return basename(dir);
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

  /** Stops the loads in progress (they fail with shutting_down at once) and refuses new ones: shutdown's first step. */
  stopLoading(): void {
    this.closed = true;
    for (const a of this.attempts) a.cancel(new UnirError('shutting_down', 'the server shut down during the load'));
  }

  /** Stops loads in progress and every module worker. */
  async close(): Promise<void> {
    this.stopLoading();
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

function isUnder(root: string, dir: string): boolean {
  const rel = relative(resolve(root), resolve(dir));
  return !isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`);
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
    onnx: v.summary ? { file: v.summary.onnx.file, bytes: v.summary.onnx.bytes, external_data: v.summary.onnx.externalData } : null,
    error: v.error,
  };
}

function failedInfo(name: string, dir: string, error: string): ReasonerInfo {
  return {
    name, version: '', description: '', default_weight: 0, base: null, state: 'failed', in_flight: 0, loaded_at: null,
    load_ms: null, size_bytes: 0, content_hash: null, path: dir, vocab_size: null, onnx: null, error,
  };
}
