import { readFileSync } from 'node:fs';
import { UnirError } from '../common/errors.js';

/** Reads a JSON object from a file; a syntax error names the file. */
export function readJsonObject(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UnirError('invalid_model_dir', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UnirError('invalid_model_dir', `${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}
