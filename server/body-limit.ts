import { readModelConfig } from '../models/model-config.js';
import { locateModelFiles } from '../models/model-files.js';
import type { ServerOptions } from './options.js';

/** Bytes of request body allowed per token of context: a token's text, JSON escaping, or an id in a token array. */
const BYTES_PER_CONTEXT_TOKEN = 32;
const FLOOR = 1024 * 1024;
const CEILING = 64 * 1024 * 1024;

/**
 * --body-limit, or by default a limit that follows the context: 32 bytes per token of the served context, at
 * least 1 MiB and at most 64 MiB (a 32k-token model: 1 MiB; 128k: 4 MiB). A body beyond it could not hold a prompt
 * that fits, and is refused (413) as it arrives, before it is parsed. Read from config.json before the model
 * loads (the server listens first); a model directory that cannot be read gets the floor and fails its load.
 */
export function bodyLimitFor(options: ServerOptions): number {
  if (options.bodyLimit !== null) return options.bodyLimit;
  let context: number;
  try {
    const positions = readModelConfig(locateModelFiles(options.model)).maxPositions;
    context = Math.min(options.maxModelLen ?? positions, positions);
  } catch {
    return FLOOR;
  }
  return Math.min(CEILING, Math.max(FLOOR, context * BYTES_PER_CONTEXT_TOKEN));
}
