import type { FastifyCorsOptions } from '@fastify/cors';
import type { FastifyRequest } from 'fastify';
import { UnirError } from '../common/errors.js';

/** What an allowed cross-origin page may use. */
const ALLOWED = {
  methods: ['GET', 'POST', 'DELETE'],
  allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
  exposedHeaders: ['x-request-id', 'retry-after'],
  maxAge: 600,
  strictPreflight: false,
};

/**
 * @fastify/cors settings for --allowed-origins. A request with an Origin header (a browser page) is served when
 * the origin is the server's own (a page it serves itself), is listed, or the list holds "*"; any other is refused
 * with 403 before it runs, WebSocket upgrades included (browsers apply no CORS to WebSockets, so a page of any
 * site could otherwise drive a server on localhost). Requests without Origin (curl, SDKs) are not concerned.
 */
export function corsOptions(allowed: readonly string[]): FastifyCorsOptions {
  const any = allowed.includes('*');
  const listed = new Set(allowed.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return {
    hideOptionsRoute: true,
    delegator: (req, cb) => {
      const r = req as FastifyRequest;
      const origin = r.headers.origin;
      if (origin === undefined) return cb(null, { origin: false });
      const own = `${r.protocol}://${r.headers.host ?? ''}`.toLowerCase();
      const o = origin.toLowerCase();
      if (o === own || any || listed.has(o)) return cb(null, { origin, ...ALLOWED });
      r.log.warn({ remoteAddress: r.ip, origin }, 'cross-origin request refused');
      cb(new UnirError('forbidden', `cross-origin requests from ${origin} are not allowed: start the server with --allowed-origins ${origin}`), {});
    },
  };
}
