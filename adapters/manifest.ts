import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { UnirError } from '../common/errors.js';

/** unir.json: what makes a model directory a reasoning module. */
export interface ReasonerManifest {
  name: string;
  version: string;
  description: string;
  default_weight: number;
  /** The base the module was trained against (informational). */
  base: string | null;
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
  return {
    name: m.name as string,
    version: typeof m.version === 'string' ? m.version : '0.0.0',
    description: typeof m.description === 'string' ? m.description : '',
    default_weight: weight as number,
    base: typeof m.base === 'string' ? m.base : null,
  };
}
