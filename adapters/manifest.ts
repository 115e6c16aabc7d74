import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { UnirError } from '../common/errors.js';
import { isOnnxDtype, ONNX_DTYPES, type OnnxDtype } from '../models/onnx-variant.js';
import { jsonSyntaxReason } from '../models/json-file.js';
import { readFileUnder } from './module-files.js';

/** unir.json: what makes a model directory a reasoning module. */
export interface ReasonerManifest {
  name: string;
  version: string;
  description: string;
  default_weight: number;
  /** The base the module was trained against (informational). */
  base: string | null;
  /** Which ONNX variant to serve (transformers.js dtype name), or null for the directory's one. */
  dtype: OnnxDtype | null;
  /** Or the ONNX file itself, relative to the module directory. */
  onnx_file: string | null;
}

export const MANIFEST_FILE = 'unir.json';
/** Fusion weights, from a manifest, an admin load or a request, lie in [-MAX_WEIGHT, MAX_WEIGHT]. */
export const MAX_WEIGHT = 10;
/** Names appear in model ids as BASE+name, so '+' and whitespace are out. */
export const REASONER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A manifest is a few hundred bytes; anything much larger is not one. */
const MAX_MANIFEST_BYTES = 64 * 1024;

/**
 * Reads and checks `dir`/unir.json. With `root`, the file is read as module files are (stageModule's rules: no
 * link out of the root, no FIFO), for a directory that has not been staged yet. `shown` names the directory in
 * errors (a path relative to the modules root, never the server's own).
 */
export async function readManifest(dir: string, opts: { root?: string; shown?: string } = {}): Promise<ReasonerManifest> {
  const path = join(dir, MANIFEST_FILE);
  const shown = `${opts.shown ?? dir}/${MANIFEST_FILE}`;
  let text: string;
  try {
    text = opts.root ? await readFileUnder(opts.root, path, MAX_MANIFEST_BYTES) : await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof UnirError && err.code === 'path_outside_root') throw err;
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' || (err instanceof UnirError && /does not exist/.test(err.message));
    throw new UnirError('invalid_model_dir', missing ? `${shown} is missing: a reasoning module directory needs a unir.json manifest` : `${shown} cannot be read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UnirError('invalid_model_dir', `${shown} is not valid JSON (${jsonSyntaxReason(err)})`);
  }
  return validateManifest(raw, shown);
}

export function validateManifest(raw: unknown, path: string): ReasonerManifest {
  const fail = (what: string): never => {
    throw new UnirError('invalid_model_dir', `${path}: ${what}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('must hold a JSON object');
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== 'string' || !REASONER_NAME.test(m.name)) fail('"name" must be 1-64 letters, digits, ".", "_" or "-" (no "+")');
  const weight = m.default_weight ?? 1.0;
  if (typeof weight !== 'number' || !(Math.abs(weight) <= MAX_WEIGHT)) fail(`"default_weight" must be a number in [-${MAX_WEIGHT}, ${MAX_WEIGHT}], as request weights are`);
  if (m.dtype !== undefined && m.dtype !== null && !isOnnxDtype(m.dtype)) fail(`"dtype" must be one of ${ONNX_DTYPES.join(', ')}`);
  if (m.onnx_file !== undefined && m.onnx_file !== null && (typeof m.onnx_file !== 'string' || m.onnx_file === '')) fail('"onnx_file" must be a path inside the module directory');
  if (isOnnxDtype(m.dtype) && typeof m.onnx_file === 'string') fail('give either "dtype" or "onnx_file", not both');
  return {
    name: m.name as string,
    version: typeof m.version === 'string' ? m.version : '0.0.0',
    description: typeof m.description === 'string' ? m.description : '',
    default_weight: weight as number,
    base: typeof m.base === 'string' ? m.base : null,
    dtype: isOnnxDtype(m.dtype) ? m.dtype : null,
    onnx_file: typeof m.onnx_file === 'string' ? m.onnx_file : null,
  };
}
