import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { UnirError } from '../../common/errors.js';
import type { AppContext } from '../app-context.js';
import { sendError } from '../error-response.js';
import { wsCancelSchema, wsGenerateSchema } from '../schemas/ws-schema.js';
import { StreamSession, type MessageValidator, type MessageValidators } from '../ws/stream-session.js';

/**
 * GET /v1/stream: the WebSocket token stream (JSON messages; protocol in docs/websocket.md). Needs
 * @fastify/websocket registered before it. A plain GET (no Upgrade) gets a 400 that says how to connect.
 */
export async function streamWsRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  let validators: MessageValidators | null = null;
  // fastify builds its validator compiler (the app's ajv settings: no coercion, no defaults) when it starts.
  app.addHook('onReady', async () => {
    const compiler = app.validatorCompiler as FastifySchemaCompiler<object> | undefined;
    if (!compiler) throw new Error('fastify has no validator compiler at ready: /v1/stream cannot validate messages');
    const compile = (schema: object) => compiler({ schema, method: 'GET', url: '/v1/stream', httpPart: 'body' }) as MessageValidator;
    validators = { generate: compile(wsGenerateSchema), cancel: compile(wsCancelSchema) };
  });

  app.route({
    method: 'GET',
    url: '/v1/stream',
    // The querystring schema (no parameters are used) also makes fastify build this scope's validator compiler.
    schema: { summary: 'WebSocket token stream: generate, cancel; several generations per socket (see docs/websocket.md).', querystring: { type: 'object' } },
    // While draining, an upgrade is refused with an HTTP 503 before it becomes a socket.
    onRequest: async () => {
      if (ctx.lifecycle.draining) throw new UnirError('shutting_down', 'the server is shutting down and opens no new streams');
    },
    handler: async (req, reply) =>
      sendError(reply, new UnirError('invalid_request', 'GET /v1/stream is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket), then send {"type":"generate", ...} messages')),
    wsHandler: (socket, req) => {
      if (!validators) {
        socket.close(1011, 'server not ready');
        return;
      }
      new StreamSession(ctx, socket, validators, req);
    },
  });
}
