import { constants, createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readlink, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UnirError } from '../common/errors.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;
/** O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (and then fstat refuses it). */
const ENTRY_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
const DIR_FLAGS = ENTRY_FLAGS | O_DIRECTORY;
/** The kernel's own limit on symbolic links followed in one lookup. */
const MAX_LINK_HOPS = 40;
const MAX_DEPTH = 16;
const MAX_ENTRIES = 10_000;
/** Linux: /proc/self/fd/N/name is name looked up inside the directory open as N, wherever it has moved since. */
const PROC_FD = '/proc/self/fd';
const HAS_PROC_FD = process.platform === 'linux' && existsSync(PROC_FD);

/** A module directory copied to a private place, where nobody else can change what the loader reads. */
export interface StagedModule {
  /** The copy: a 0700 directory under the system temp directory (TMPDIR). */
  dir: string;
  /** Bytes copied. */
  sizeBytes: number;
  /** Deletes the copy (a loaded session no longer needs it). */
  remove(): Promise<void>;
}

/**
 * Copies the module directory `dir`, which must lie under `root`, into a private staging directory, opening
 * every directory and file exactly once through handles: each name is looked up inside the directory handle it
 * belongs to without following links, so a directory swapped for a link after a check cannot redirect a read.
 * A symbolic link is followed only when its target, resolved the same way from the root, stays inside the root.
 * Anything that is not a regular file or a directory (a FIFO, a socket, a device) is refused, as are trees
 * deeper than 16 levels or holding more than 10,000 entries. The loader then reads only the copy.
 *
 * Throws path_outside_root or invalid_model_dir, with paths shown relative to the root. Aborting `signal`
 * stops the copy (and removes it). Off Linux (no /proc/self/fd) the same checks run on paths, which a
 * concurrent rename can race.
 */
export async function stageModule(root: string, dir: string, signal?: AbortSignal): Promise<StagedModule> {
  const rootAbs = resolve(root);
  const rel = relative(rootAbs, resolve(dir));
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new UnirError('path_outside_root', `${shownPath(rel)} is outside its modules root`, 'path');
  }
  const tree = await ModuleTree.open(rootAbs);
  const staging = await mkdtemp(join(tmpdir(), 'unir-module-'));
  const remove = () => rm(staging, { recursive: true, force: true });
  try {
    const top = await tree.resolve(split(rel), 'directory');
    const sizeBytes = await tree.copy(top, staging, signal);
    return { dir: staging, sizeBytes, remove };
  } catch (err) {
    await remove();
    throw err;
  } finally {
    await tree.close();
  }
}

/**
 * Reads one regular file under `root` with the rules of stageModule (no link leaves the root, no FIFO or device),
 * at most `maxBytes` of it. For the small files read before a load (the watcher's look at unir.json).
 */
export async function readFileUnder(root: string, path: string, maxBytes: number): Promise<string> {
  const rootAbs = resolve(root);
  const rel = relative(rootAbs, resolve(path));
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new UnirError('path_outside_root', `${shownPath(rel)} is outside its modules root`, 'path');
  }
  const tree = await ModuleTree.open(rootAbs);
  try {
    const file = await tree.resolve(split(rel), 'any');
    try {
      if (file.kind !== 'file') throw new UnirError('invalid_model_dir', `${shownPath(rel)} is not a regular file`, 'path');
      const buffer = Buffer.alloc(maxBytes + 1);
      const { bytesRead } = await file.handle.read(buffer, 0, maxBytes + 1, 0);
      if (bytesRead > maxBytes) throw new UnirError('invalid_model_dir', `${shownPath(rel)} is larger than ${maxBytes} bytes`, 'path');
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await file.handle.close();
    }
  } finally {
    await tree.close();
  }
}

/** A directory or regular file opened under the root, with its path from the root (links resolved). */
interface Opened {
  handle: FileHandle;
  path: string[];
  kind: 'directory' | 'file';
}

class ModuleTree {
  private entries = 0;
  private readonly seen = new Set<string>();

  private constructor(
    private readonly rootHandle: FileHandle,
    private readonly rootReal: string,
  ) {}

  static async open(root: string): Promise<ModuleTree> {
    let handle: FileHandle;
    try {
      handle = await open(root, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
    } catch (err) {
      throw new UnirError('invalid_model_dir', `the modules root cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'path');
    }
    const real = HAS_PROC_FD ? await readlink(`${PROC_FD}/${handle.fd}`) : root;
    return new ModuleTree(handle, real);
  }

  close(): Promise<void> {
    return this.rootHandle.close();
  }

  /** Opens `path` (from the root), following links only inside the root; `want` is what it must be. */
  async resolve(path: string[], want: 'directory' | 'any'): Promise<Opened> {
    let pending = normalize(path);
    for (let hops = 0; ; hops++) {
      const result = await this.walk(pending, want);
      if ('handle' in result) return result;
      if (hops >= MAX_LINK_HOPS) throw new UnirError('invalid_model_dir', `${shownPath(pending.join('/'))}: too many levels of symbolic links`, 'path');
      pending = result.restart;
    }
  }

  /** Copies the directory `from` into `to` (which exists); returns the bytes copied. Closes `from`. */
  async copy(from: Opened, to: string, signal?: AbortSignal): Promise<number> {
    let bytes = 0;
    try {
      if (from.path.length > MAX_DEPTH) throw new UnirError('invalid_model_dir', `${shownPath(from.path.join('/'))} is nested more than ${MAX_DEPTH} levels deep`, 'path');
      const stat = await from.handle.stat();
      const key = `${stat.dev}:${stat.ino}`;
      if (this.seen.has(key)) throw new UnirError('invalid_model_dir', `${shownPath(from.path.join('/'))} is reached twice (a loop of symbolic links)`, 'path');
      this.seen.add(key);
      const names = (await readdir(this.child(from, null))).sort();
      for (const name of names) {
        signal?.throwIfAborted();
        if (++this.entries > MAX_ENTRIES) throw new UnirError('invalid_model_dir', `the module holds more than ${MAX_ENTRIES} files and directories`, 'path');
        let entry = await this.openIn(from, name, 'any');
        if ('restart' in entry) entry = await this.resolve(entry.restart, 'any');
        const target = join(to, name);
        if (entry.kind === 'directory') {
          await mkdir(target, { mode: 0o700 });
          bytes += await this.copy(entry, target, signal);
          continue;
        }
        try {
          await pipeline(entry.handle.createReadStream({ start: 0, autoClose: false }), createWriteStream(target, { flags: 'wx', mode: 0o600 }), { signal });
          bytes += (await entry.handle.stat()).size;
        } finally {
          await entry.handle.close();
        }
      }
    } finally {
      await from.handle.close();
    }
    return bytes;
  }

  /** Opens each component inside the previous one's handle; a link ends the walk with the path to restart from. */
  private async walk(path: string[], want: 'directory' | 'any'): Promise<Opened | { restart: string[] }> {
    let current: Opened = { handle: this.rootHandle, path: [], kind: 'directory' };
    const owned = () => current.handle !== this.rootHandle;
    try {
      for (let i = 0; i < path.length; i++) {
        const next = await this.openIn(current, path[i], i === path.length - 1 ? want : 'directory');
        if ('restart' in next) return { restart: [...next.restart, ...path.slice(i + 1)] };
        if (owned()) await current.handle.close();
        current = next;
      }
      // The root itself: a handle of its own, so that callers may close what they get.
      if (!owned()) return { handle: await open(this.child(current, '.'), DIR_FLAGS), path: [], kind: 'directory' };
      return current;
    } catch (err) {
      if (owned()) await current.handle.close();
      throw err;
    }
  }

  /** Opens `name` inside the directory `dir` is open on, without following a link (a link: where to restart). */
  private async openIn(dir: Opened, name: string, want: 'directory' | 'any'): Promise<Opened | { restart: string[] }> {
    const path = [...dir.path, name];
    const at = this.child(dir, name);
    let handle: FileHandle;
    try {
      handle = await open(at, want === 'any' ? ENTRY_FLAGS : DIR_FLAGS);
    } catch (err) {
      const link = await readlink(at).catch(() => null);
      if (link === null) throw openError(path, err);
      return { restart: this.linkTarget(dir.path, name, link) };
    }
    const stat = await handle.stat();
    const kind = stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : null;
    if (kind === null) {
      await handle.close();
      throw new UnirError('invalid_model_dir', `${shownPath(path.join('/'))} is not a regular file or directory (${fileType(stat)})`, 'path');
    }
    return { handle, path, kind };
  }

  /** Where the walk continues after a link found at `parent`/name: the target, resolved from the root. */
  private linkTarget(parent: string[], name: string, link: string): string[] {
    const outside = new UnirError('path_outside_root', `${shownPath([...parent, name].join('/'))} is a symbolic link that leads outside the modules root`, 'path');
    let fromRoot: string;
    if (isAbsolute(link)) {
      fromRoot = relative(this.rootReal, link);
      if (isAbsolute(fromRoot) || fromRoot === '..' || fromRoot.startsWith(`..${sep}`)) throw outside;
    } else {
      fromRoot = posix.join(...parent, link);
    }
    const next = posix.normalize(fromRoot);
    if (next === '..' || next.startsWith('../')) throw outside;
    return normalize(split(next));
  }

  /** The path that opens `name` inside the directory `dir` is open on (or `dir` itself). */
  private child(dir: Opened, name: string | null): string {
    const base = HAS_PROC_FD ? `${PROC_FD}/${dir.handle.fd}` : join(this.rootReal, ...dir.path);
    return name === null ? base : `${base}/${name}`;
  }
}

function split(rel: string): string[] {
  return rel.split(/[\\/]+/).filter((c) => c !== '' && c !== '.');
}

function normalize(path: string[]): string[] {
  const out: string[] = [];
  for (const c of path) {
    if (c === '..') {
      if (out.length === 0) throw new UnirError('path_outside_root', `${shownPath(path.join('/'))} leaves its modules root`, 'path');
      out.pop();
    } else if (c !== '.' && c !== '') out.push(c);
  }
  return out;
}

function openError(path: string[], err: unknown): UnirError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const why = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be opened (${code})`;
  return new UnirError('invalid_model_dir', `${shownPath(path.join('/'))} ${why}`, 'path');
}

function fileType(stat: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'a special file';
}

/** A path as errors show it: relative to the modules root, never the server's own directories. */
function shownPath(rel: string): string {
  return JSON.stringify(rel === '' ? '.' : rel.split(sep).join('/'));
}
