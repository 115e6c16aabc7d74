import { readdirSync } from 'node:fs';

/** The top-level directories of this machine's file system: an absolute path starts with one of them. */
const TOP_LEVEL = (() => {
  try {
    return new Set(readdirSync('/'));
  } catch {
    return new Set<string>();
  }
})();

/** "/x/y/z" and "/onnxruntime_src/..." style tokens (spaces, quotes and brackets end a path). */
const ABSOLUTE_PATH = /(?<![\w.~-])\/([^\s/"'`()<>[\]{},;]+)((?:\/[^\s/"'`()<>[\]{},;]*)*)/g;

/**
 * Replaces file system paths in a message a client will read with their last component (`…/config.json`):
 * absolute paths that start with a top-level directory of this machine, and ONNX Runtime's build paths.
 * API routes (/v1/completions, /health) are not directories of the machine and are left as they are.
 */
export function redactPaths(message: string): string {
  return message.replace(ABSOLUTE_PATH, (match: string, first: string, rest: string) => {
    if (!TOP_LEVEL.has(first) && first !== 'onnxruntime_src' && !/^(proc|tmp|home|root|usr|etc|var|opt|srv|mnt|work|data|app)$/.test(first)) return match;
    const parts = `${first}${rest}`.split('/').filter(Boolean);
    return `…/${parts[parts.length - 1]}`;
  });
}
