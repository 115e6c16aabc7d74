import { createServer, type RequestListener, type Server } from 'node:http';

/**
 * fastify's serverFactory: Node's HTTP server with a receive timeout. `bodyTimeoutMs` bounds the time from a
 * request's first byte to its last (headers and body), so a client that trickles a body cannot hold a connection
 * and a parser forever; Node checks every second (its default is every 30 s). 0 disables.
 */
export function httpServerFactory(bodyTimeoutMs: number) {
  return (handler: RequestListener): Server =>
    createServer(
      {
        requestTimeout: bodyTimeoutMs,
        headersTimeout: bodyTimeoutMs > 0 ? Math.min(bodyTimeoutMs, 60_000) : 60_000,
        connectionsCheckingInterval: bodyTimeoutMs > 0 ? Math.min(1000, bodyTimeoutMs) : 30_000,
        // fastify's own default (Node's is 5 s): idle keep-alive connections stay usable behind proxies.
        keepAliveTimeout: 72_000,
      },
      handler,
    );
}
