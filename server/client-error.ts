import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { UnirError } from '../common/errors.js';
import { publicError, statusOf } from './error-response.js';
import type { FastifyBaseLogger } from 'fastify';

/**
 * Errors Node's HTTP parser meets before fastify sees a request (a malformed request line, headers over the size
 * limit, a request not received within --body-timeout): answered in OpenAI's shape, then the socket is closed.
 */
export function clientErrorHandler(log: FastifyBaseLogger) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const e =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new UnirError('request_timeout', 'the request was not received in time: send the whole request within --body-timeout')
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? new UnirError('header_too_large', 'the request headers are larger than the server accepts')
          : new UnirError('invalid_request', `the request is not valid HTTP (${err.code ?? 'parse error'})`);
    const id = `conn-${socket.remoteAddress ?? 'unknown'}-${Date.now().toString(36)}`;
    const connLog = log.child({ reqId: id });
    connLog.info({ code: e.code, remoteAddress: socket.remoteAddress, err: err.message }, 'client error');
    const status = statusOf(e);
    const body = JSON.stringify(publicError(e, { id, log: connLog }));
    if (socket.writable) {
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroy();
  };
}
