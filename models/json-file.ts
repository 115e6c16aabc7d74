import { readFileSync } from 'node:fs';
import { UnirError } from '../common/errors.js';

/** Reads a JSON object from a file; a syntax error names the file. */
export function readJsonObject(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UnirError('invalid_model_dir', `${path} is not valid JSON (${jsonSyntaxReason(err)})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UnirError('invalid_model_dir', `${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Where JSON.parse failed, without V8's excerpt of the text (`Unexpected token 'r', "root:x:0:0"... is not valid
 * JSON`): a module file's contents must not reach a response, which GET /v1/reasoners shows to every API client.
 */
export function jsonSyntaxReason(err: unknown): string {
  const message = (err as Error).message ?? '';
  if (/end of JSON input/.test(message)) return 'it ends too early';
  const at = /at position (\d+)(?: \(line (\d+) column (\d+)\))?/.exec(message);
  if (!at) return 'a syntax error';
  return at[2] ? `a syntax error at line ${at[2]} column ${at[3]}` : `a syntax error at position ${at[1]}`;
}
