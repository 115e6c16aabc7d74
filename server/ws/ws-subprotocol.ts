/**
 * WebSocket subprotocols of /v1/stream (Sec-WebSocket-Protocol, RFC 6455 §1.9). Browsers cannot set headers on a
 * WebSocket, so, as OpenAI's Realtime API does for browsers, a page may carry its API key as the subprotocol
 * `openai-insecure-api-key.<KEY>`, offered together with `unir-serve`. The server selects `unir-serve` (a browser
 * fails a handshake that offered protocols and got none back) and never echoes the key.
 */

/** The protocol the server speaks and selects. */
export const STREAM_PROTOCOL = 'unir-serve';

/** Prefix of the subprotocol that carries an API key: `openai-insecure-api-key.<KEY>`. */
export const API_KEY_PROTOCOL_PREFIX = 'openai-insecure-api-key.';

/** The offered subprotocols of a Sec-WebSocket-Protocol header (comma-separated tokens), in order. */
export function offeredProtocols(header: string | string[] | undefined): string[] {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** The API key an upgrade offers as `openai-insecure-api-key.<KEY>` (the first such), or null. */
export function apiKeyOfProtocols(offered: readonly string[]): string | null {
  const p = offered.find((x) => x.startsWith(API_KEY_PROTOCOL_PREFIX));
  return p === undefined ? null : p.slice(API_KEY_PROTOCOL_PREFIX.length);
}

/** ws's handleProtocols: `unir-serve` when offered, otherwise no protocol (never a key, never one we do not speak). */
export function selectProtocol(offered: ReadonlySet<string>): string | false {
  return offered.has(STREAM_PROTOCOL) ? STREAM_PROTOCOL : false;
}
