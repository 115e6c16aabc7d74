import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.js';

/** GET /health (liveness), GET /ready (readiness: 503 until loaded and while draining), GET /metrics. */
export async function healthRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get('/health', { schema: { summary: 'Liveness: 200 while the process serves HTTP.' } }, async () => ({ status: 'ok' }));
  app.get('/ready', { schema: { summary: 'Readiness: 200 when the model is loaded and the server is not draining, else 503.' } }, async (_req, reply) => {
    const ready = ctx.lifecycle.ready && !ctx.lifecycle.draining;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : ctx.lifecycle.draining ? 'draining' : 'loading' });
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text format).' } }, async (_req, reply) => {
    if (ctx.loaded) {
      const stats = await ctx.engine.stats();
      ctx.metrics.running.set(stats.running + stats.prefilling);
      ctx.metrics.waiting.set(stats.waiting);
    }
    return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
}
