import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { UnirError } from '../common/errors.js';

/**
 * The admin API's guard. With --admin-token, every admin request must carry `Authorization: Bearer TOKEN`
 * (401 otherwise, from any address). Without it, only loopback clients are served (403 for the others).
 * The client address is the socket's peer: X-Forwarded-For is not trusted. Refusals are logged (warn) with it.
 */
export function adminGuard(adminToken: string | null) {
  const expected = adminToken ? digest(adminToken) : null;
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected) {
      const given = bearerToken(req.headers.authorization);
      if (given === null || !timingSafeEqual(digest(given), expected)) {
        refused(req, given === null ? 'no token' : 'wrong token');
        reply.header('www-authenticate', 'Bearer realm="unir-serve admin"');
        throw new UnirError(
          'unauthorized',
          given === null
            ? 'the admin API needs a bearer token: send Authorization: Bearer <the server\'s --admin-token>'
            : 'the admin token is not valid',
        );
      }
      return;
    }
    if (!isLoopback(req.raw.socket.remoteAddress)) {
      refused(req, 'not a loopback client');
      throw new UnirError(
        'forbidden',
        'the admin API answers loopback clients only when the server runs without --admin-token: call it from the server\'s host, or start the server with --admin-token',
      );
    }
  };
}

/** Every refused admin request is logged with the client's address (the socket's peer). */
function refused(req: FastifyRequest, reason: string): void {
  req.log.warn({ remoteAddress: req.raw.socket.remoteAddress, method: req.method, url: req.url.split('?')[0], reason }, 'admin request refused');
}

/** The token of an `Authorization: Bearer TOKEN` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer[ \t]+(\S.*?)[ \t]*$/i.exec(header ?? '');
  return m ? m[1] : null;
}

/** Equal-length digests, so the comparison takes the same time whatever the token's length or content. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback (::ffff:127.x.x.x). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase().replace(/%.*$/, '');
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  const parts = v4.split('.');
  return parts.length === 4 && parts[0] === '127' && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}
