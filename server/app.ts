import fastifyCors from '@fastify/cors';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type HTTPMethods } from 'fastify';
import { UnirError } from '../common/errors.js';
import { apiKeyGuard } from './api-key-guard.js';
import type { AppContext } from './app-context.js';
import { bodyLimitFor } from './body-limit.js';
import { clientErrorHandler } from './client-error.js';
import { sendError } from './error-response.js';
import { httpServerFactory } from './http-server.js';
import { collectOpenApi } from './openapi.js';
import { corsOptions } from './origin-guard.js';
import { requestId } from './request-id.js';
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
  const log = ctx.log as FastifyBaseLogger;
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: bodyLimitFor(ctx.options),
    serverFactory: httpServerFactory(ctx.options.bodyTimeout * 1000),
    clientErrorHandler: clientErrorHandler(log),
    genReqId: requestId,
    // While closing, requests reach the routes, which refuse them in OpenAI's shape (not fastify's own 503 body).
    return503OnClosing: false,
    // Per-request logs cost more than a decode step at high rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // allowUnionTypes: fields such as prompt and stop are one list of types (not anyOf, whose errors name a wrong rule).
    ajv: { customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
    // Fastify's own refusals before routing (a bad percent-encoding): OpenAI's shape too.
    frameworkErrors: (err, _req, reply) => sendError(reply, err),
  }) as unknown as FastifyInstance;
  app.addHook('onRequest', async (req, reply) => {
    reply.raw.setHeader('x-request-id', req.id);
  });
  // A WebSocket upgrade answered over HTTP (401, 403, 503...) leaves a socket no parser reads any more: close it,
  // or it stays open for good and holds up shutdown.
  app.addHook('onResponse', async (req, reply) => {
    if (req.raw.headers.upgrade !== undefined && reply.statusCode !== 101) (req.raw.socket as import('node:net').Socket).destroySoon();
  });
  await app.register(fastifyCors, corsOptions(ctx.options.allowedOrigins));
  app.addHook('onRequest', apiKeyGuard(ctx.options.apiKey));
  app.setErrorHandler((err, _req, reply) => sendError(reply, err));
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
