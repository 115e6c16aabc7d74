import type { WebsocketPluginOptions } from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.js';
import { selectProtocol } from './ws-subprotocol.js';

/**
 * @fastify/websocket's settings: messages over --ws-max-message-bytes close the socket with 1009 (Message Too
 * Big, ws's maxPayload: the frame is refused before it is buffered). Protocol errors of a client (oversized or
 * malformed frames) are logged at warn; ws has already sent the close frame, so the socket is not torn down
 * here (terminating would drop that frame); other socket errors terminate it. Of the offered subprotocols the
 * server selects `unir-serve` only (ws-subprotocol.ts): never the API key a browser offers as one.
 */
export function websocketOptions(ctx: AppContext): WebsocketPluginOptions {
  return {
    options: { maxPayload: ctx.options.wsMaxMessageBytes, perMessageDeflate: false, handleProtocols: selectProtocol },
    // At shutdown (after the drain) open sockets are closed with 1001 Going Away, which clients read as "reconnect".
    preClose(this: FastifyInstance, done: () => void) {
      for (const client of this.websocketServer.clients) client.close(1001, 'server shutting down');
      done();
    },
    errorHandler: (err, socket, req) => {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code.startsWith('WS_ERR_')) {
        req.log.warn({ code, err: err.message }, 'websocket client protocol error: closing');
        return;
      }
      req.log.warn({ err: err.message }, 'websocket error: closing');
      socket.terminate();
    },
  };
}
