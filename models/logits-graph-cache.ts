import { createHash, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { LOGITS_TO_KEEP_INPUT, REWRITE_VERSION, rewriteForLogitsToKeep } from './logits-to-keep-rewrite.js';

/** The graph ONNX Runtime loads: a file, or bytes whose external data files lie in `externalDataDir`. */
export interface LogitsGraph {
  path: string;
  bytes: Uint8Array | null;
  externalDataDir: string | null;
  /** What was done, for the load log (null when the export already has a logits-to-keep input). */
  note: { level: 'info' | 'warn'; message: string } | null;
  /** Whether `path` is a graph read back from the cache (one ONNX Runtime cannot load is rewritten again: `fresh`). */
  fromCache: boolean;
}

/** What the cache remembers of one source graph (a small JSON file beside the rewritten one). */
interface CacheEntry {
  kind: 'has-input' | 'rewritten' | 'unsafe';
  source: string;
  reason?: string;
  externalData?: boolean;
}

/** $XDG_CACHE_HOME/unir-serve/graphs, else ~/.cache/unir-serve/graphs. */
export function defaultGraphCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'unir-serve', 'graphs');
}

/**
 * The graph to serve for `onnxPath`: the export itself when it has a num_logits_to_keep / logits_to_keep input;
 * otherwise the export rewritten so the output projection runs on the kept positions only (rewriteForLogitsToKeep),
 * cached in `cacheDir` under a key of the source's real path, its file identity and times (sourceFileKey; `sourceKey`, a
 * content hash with the file's place in its directory, instead for a staged module copy) and the
 * rewrite's version, so later loads skip the rewrite. External data stays where it is: a rewritten graph that refers to external data
 * is handed to ONNX Runtime as bytes with the source's directory as the external-data folder.
 * A graph that cannot be rewritten safely is served unchanged, with a warning saying what that costs; a cache that
 * cannot be written only costs the rewrite at every load (also said). `cacheDir` null: no cache. `rewrite` false
 * serves every export unchanged (the warning still says what a missing input costs). `fresh` ignores what the cache
 * holds for this source and writes it again (a cached graph that turned out corrupt).
 */
export function prepareLogitsGraph(onnxPath: string, cacheDir: string | null, vocabSize: number, rewrite = true, fresh = false, sourceKey?: string): LogitsGraph {
  const unchanged = (note: LogitsGraph['note']): LogitsGraph => ({ path: onnxPath, bytes: null, externalDataDir: null, note, fromCache: false });
  const unsafeNote = (reason: string): LogitsGraph['note'] => ({
    level: 'warn',
    message:
      `${onnxPath} has no num_logits_to_keep input and is not rewritten to get one (${reason}): it is served unchanged, ` +
      `so every prefill computes logits for all prompt positions (prompt length x ${vocabSize} floats): time to first token ` +
      'and memory grow with prompt length x vocabulary. Re-export it with num_logits_to_keep (optimum) to avoid that.',
  });
  // `sourceKey` (a content hash) stands for the bytes when the path is a fresh copy at every load.
  const identity = sourceKey ? `content\0${sourceKey}\0${basename(onnxPath)}` : sourceFileKey(onnxPath);
  const key = createHash('sha256').update(`${REWRITE_VERSION}\0${identity}`).digest('hex').slice(0, 32);
  if (!rewrite) {
    const found = rewriteForLogitsToKeep(readFileSync(onnxPath));
    return unchanged(found.kind === 'has-input' ? null : unsafeNote('the rewrite is turned off by --keep-all-logits'));
  }
  const cached = cacheDir && !fresh ? readEntry(join(cacheDir, `${key}.json`)) : null;
  const cachedGraph = cacheDir ? join(cacheDir, `${key}.onnx`) : null;
  if (cached?.kind === 'has-input') return unchanged(null);
  if (cached?.kind === 'unsafe') return unchanged(unsafeNote(cached.reason ?? 'see an earlier load'));
  if (cached?.kind === 'rewritten' && cachedGraph && existsSync(cachedGraph)) {
    const note = { level: 'info' as const, message: `${onnxPath}: served with logits for the kept positions only (${LOGITS_TO_KEEP_INPUT} added at load; cached graph ${cachedGraph})` };
    if (!cached.externalData) return { path: cachedGraph, bytes: null, externalDataDir: null, note, fromCache: true };
    return { path: cachedGraph, bytes: readFileSync(cachedGraph), externalDataDir: dirname(onnxPath), note, fromCache: true };
  }

  let result: ReturnType<typeof rewriteForLogitsToKeep>;
  try {
    result = rewriteForLogitsToKeep(readFileSync(onnxPath));
  } catch (err) {
    result = { kind: 'unsafe', reason: `the graph could not be parsed: ${(err as Error).message}` };
  }
  const save = (entry: CacheEntry, graph: Uint8Array[] | null): string | null => {
    if (!cacheDir || !cachedGraph) return 'no graph cache directory';
    try {
      mkdirSync(cacheDir, { recursive: true });
      if (graph) writeAtomically(cachedGraph, graph);
      writeAtomically(join(cacheDir, `${key}.json`), [Buffer.from(`${JSON.stringify(entry)}\n`)]);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  };
  if (result.kind === 'has-input') {
    save({ kind: 'has-input', source: onnxPath }, null);
    return unchanged(null);
  }
  if (result.kind === 'unsafe') {
    save({ kind: 'unsafe', source: onnxPath, reason: result.reason }, null);
    return unchanged(unsafeNote(result.reason));
  }
  const externalData = result.externalLocations.length > 0;
  const failed = save({ kind: 'rewritten', source: onnxPath, externalData }, result.chunks);
  const where = failed === null ? `cached graph ${cachedGraph}` : `not cached: ${failed}; the rewrite runs at every load`;
  const note = { level: failed === null ? ('info' as const) : ('warn' as const), message: `${onnxPath}: served with logits for the kept positions only (${LOGITS_TO_KEEP_INPUT} added at load; ${where})` };
  if (failed === null && !externalData) return { path: cachedGraph!, bytes: null, externalDataDir: null, note, fromCache: false };
  return { path: onnxPath, bytes: Buffer.concat(result.chunks), externalDataDir: dirname(onnxPath), note, fromCache: false };
}

function readEntry(path: string): CacheEntry | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CacheEntry;
  } catch {
    return null;
  }
}

/**
 * What identifies the content of a source graph without reading it: its real path, device, inode, size, and
 * modification and status-change times in nanoseconds (the stat data git's index trusts). The status-change time
 * moves with every write and cannot be set back (`touch -r`, `cp -p` and `rsync -a` restore the mtime only), so a
 * file rewritten in place with the same size and mtime (another checkpoint of the same architecture) gets a new key.
 */
function sourceFileKey(path: string): string {
  const s = statSync(path, { bigint: true });
  return [realpathSync(path), s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join('\0');
}

/**
 * Writes the chunks to a temporary file beside `path`, then renames it: a reader never sees half a file. The
 * temporary name is unique (loads in several threads of one process may write the same entry at once), and it is
 * removed when the write fails (a full disk must not keep a partial copy of a model).
 */
function writeAtomically(path: string, chunks: Uint8Array[]): void {
  const tmp = `${path}.${randomUUID()}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const c of chunks) writeSync(fd, c);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
