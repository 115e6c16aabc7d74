import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { UnirError } from '../common/errors.js';
import { bearerToken } from './admin-auth.js';
import { API_KEY_PROTOCOL_PREFIX, apiKeyOfProtocols, offeredProtocols, STREAM_PROTOCOL } from './ws/ws-subprotocol.js';

/** Route config: 'open' routes (/health, /ready) need no key; 'admin' routes have a guard of their own. */
export interface RouteAuthConfig {
  auth?: 'open' | 'admin';
}

/**
 * --api-key: every route but the open ones (/health, /ready, the playground's page) and the admin ones needs `Authorization: Bearer KEY` with one of the keys
 * (401 otherwise), the WebSocket upgrade included. A WebSocket upgrade may instead offer the key as the subprotocol
 * `openai-insecure-api-key.<KEY>` together with `unir-serve` (browsers cannot set headers on a WebSocket; OpenAI's
 * Realtime API convention; 400 if `unir-serve` is not offered with it, since the handshake could not succeed). The given key is compared with every key, each through a
 * SHA-256 digest and timingSafeEqual, so the time taken says nothing about the keys. Refusals are logged (warn)
 * with the client's address. No keys: the guard does nothing.
 */
export function apiKeyGuard(keys: readonly string[]) {
  const digests = keys.map(digest);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (digests.length === 0) return;
    const auth = (req.routeOptions.config as RouteAuthConfig | undefined)?.auth;
    if (auth === 'open' || auth === 'admin' || isPage(req.url)) return;
    const given = bearerToken(req.headers.authorization) ?? upgradeKey(req);
    let valid = false;
    if (given !== null) {
      const d = digest(given);
      for (const k of digests) valid = timingSafeEqual(d, k) || valid;
    }
    if (valid) return;
    req.log.warn({ remoteAddress: req.ip, method: req.method, url: req.url.split('?')[0], reason: given === null ? 'no key' : 'wrong key' }, 'API key refused');
    reply.header('www-authenticate', 'Bearer realm="unir-serve"');
    throw new UnirError(
      'unauthorized',
      given === null ? 'this server needs an API key: send Authorization: Bearer <key>' : 'the API key is not valid',
    );
  };
}

/** The key a WebSocket upgrade offers as a subprotocol, or null; 400 when it comes without `unir-serve`. */
function upgradeKey(req: FastifyRequest): string | null {
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return null;
  const offered = offeredProtocols(req.headers['sec-websocket-protocol']);
  const key = apiKeyOfProtocols(offered);
  if (key !== null && !offered.includes(STREAM_PROTOCOL)) {
    throw new UnirError('invalid_request', `offer the WebSocket protocol '${STREAM_PROTOCOL}' together with '${API_KEY_PROTOCOL_PREFIX}<key>'`);
  }
  return key;
}

/** The playground's page and its static files hold no data (the API calls they make need a key): open. */
function isPage(url: string): boolean {
  const path = url.split('?')[0];
  return path === '/' || path === '/playground' || path.startsWith('/ui/');
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
