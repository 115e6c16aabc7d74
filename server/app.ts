import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type HTTPMethods } from 'fastify';
import { UnirError } from '../common/errors.js';
import type { AppContext } from './app-context.js';
import { sendError } from './error-response.js';
import { collectOpenApi } from './openapi.js';
import { chatCompletionRoutes } from './routes/chat-completions.js';
import { completionRoutes } from './routes/completions.js';
import { healthRoutes } from './routes/health.js';
import { modelRoutes } from './routes/models.js';
import { reasonerListRoute } from './routes/reasoners.js';
import { adminRoutes } from './routes/admin.js';
import { streamWsRoutes } from './routes/stream-ws.js';
import { websocketOptions } from './ws/ws-options.js';
import { tokenizeRoutes } from './routes/tokenize.js';
import { playgroundRoutes } from './routes/playground.js';

const METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

/** The HTTP app over a built context. Never listens: tests use inject(), start.ts listens. */
export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    bodyLimit: ctx.options.bodyLimit,
    // Per-request logs cost more than a decode step at high rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false } },
  });
  app.setErrorHandler((err, req, reply) => {
    const status = sendError(reply, err).statusCode;
    if (status >= 500) req.log.error({ err }, 'request failed');
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    const allowed = METHODS.filter((m) => app.hasRoute({ method: m, url: path }));
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendError(reply, new UnirError('method_not_allowed', `${req.method} is not allowed on ${path}: use ${allowed.join(' or ')}`));
    }
    return sendError(reply, new UnirError('not_found', `no route ${req.method} ${path}`));
  });
  const openApi = collectOpenApi(app, { title: 'unir-serve', version: '0.1.0' });
  app.get('/openapi.json', async () => openApi());
  await app.register(async (scope) => healthRoutes(scope, ctx));
  await app.register(async (scope) => modelRoutes(scope, ctx));
  await app.register(async (scope) => completionRoutes(scope, ctx));
  await app.register(async (scope) => chatCompletionRoutes(scope, ctx));
  await app.register(async (scope) => tokenizeRoutes(scope, ctx));
  await app.register(async (scope) => reasonerListRoute(scope, ctx));
  await app.register(async (scope) => adminRoutes(scope, ctx));
  await app.register(fastifyWebsocket, websocketOptions(ctx));
  await app.register(async (scope) => streamWsRoutes(scope, ctx));
  if (!ctx.options.noUi) await app.register(async (scope) => playgroundRoutes(scope));
  return app;
}
