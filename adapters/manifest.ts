import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { UnirError } from '../common/errors.js';
import { isOnnxDtype, ONNX_DTYPES, type OnnxDtype } from '../models/onnx-variant.js';

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
/** Names appear in model ids as BASE+name, so '+' and whitespace are out. */
export const REASONER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function readManifest(dir: string): Promise<ReasonerManifest> {
  const path = join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UnirError('invalid_model_dir', missing ? `${path} is missing: a reasoning module directory needs a unir.json manifest` : `${path} is not valid JSON: ${(err as Error).message}`);
  }
  return validateManifest(raw, path);
}

export function validateManifest(raw: unknown, path: string): ReasonerManifest {
  const fail = (what: string): never => {
    throw new UnirError('invalid_model_dir', `${path}: ${what}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('must hold a JSON object');
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== 'string' || !REASONER_NAME.test(m.name)) fail('"name" must be 1-64 letters, digits, ".", "_" or "-" (no "+")');
  const weight = m.default_weight ?? 1.0;
  if (typeof weight !== 'number' || !Number.isFinite(weight)) fail('"default_weight" must be a number');
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
