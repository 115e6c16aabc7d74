import type { AppContext } from './app-context.js';

const warned = new Set<string>();

/**
 * Logs, once per endpoint and field name for the life of the process, a request field the server does not
 * know and ignores (as vLLM does), so a client relying on it can find out without flooding the log.
 */
export function warnUnknownFields(ctx: AppContext, endpoint: string, body: object, known: object): void {
  for (const field of Object.keys(body)) {
    if (field in known) continue;
    const key = `${endpoint}:${field}`;
    if (warned.has(key)) continue;
    warned.add(key);
    ctx.log.warn({ endpoint, field }, `request field "${field}" is not supported and was ignored`);
  }
}
