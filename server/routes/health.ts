import type { FastifyInstance } from 'fastify';
import type { RouteAuthConfig } from '../api-key-guard.js';
import type { AppContext } from '../app-context.js';

/**
 * GET /health (liveness: 503 once the engine cannot serve, so an orchestrator restarts the process), GET /ready
 * (readiness: 503 until loaded, while draining, and when the engine cannot serve), GET /metrics.
 */
export async function healthRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const open: RouteAuthConfig = { auth: 'open' };
  app.get('/health', { config: open, schema: { summary: 'Liveness: 200 while the server can serve; 503 with the reason once the engine cannot.' } }, async (_req, reply) => {
    const engine = ctx.loaded?.engine.health;
    if (engine && !engine.healthy) return reply.code(503).send({ status: 'unhealthy', reason: engine.reason });
    return { status: 'ok' };
  });
  app.get('/ready', { config: open, schema: { summary: 'Readiness: 200 when the model is loaded, the engine healthy and the server not draining, else 503 with the reason.' } }, async (_req, reply) => {
    const engine = ctx.loaded?.engine.health;
    if (engine && !engine.healthy) return reply.code(503).send({ status: 'unhealthy', reason: engine.reason });
    const ready = ctx.lifecycle.ready && !ctx.lifecycle.draining;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : ctx.lifecycle.draining ? 'draining' : 'loading' });
  });
  app.get('/metrics', { config: ctx.options.metricsAuth ? ({} as RouteAuthConfig) : open, schema: { summary: 'Prometheus metrics (text format).' } }, async (_req, reply) => {
    if (ctx.loaded && ctx.engine.health.healthy) {
      const stats = await ctx.engine.stats();
      ctx.metrics.running.set(stats.running + stats.prefilling);
      ctx.metrics.waiting.set(stats.waiting);
    }
    return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
}
