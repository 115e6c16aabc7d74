import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** A client's own X-Request-Id is kept when it is a plain token; anything else gets a fresh one. */
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The id of a request: in every log line about it (pino's reqId), in the X-Request-Id response header, and in the
 * body of a 5xx, so that a client's report leads to the log line with the details.
 */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && CLIENT_ID.test(given) ? given : randomUUID();
}
