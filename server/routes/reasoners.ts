import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.js';

/** GET /v1/reasoners: the loaded modules (admin routes add load, replace and unload). */
export async function reasonerListRoute(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get('/v1/reasoners', { schema: { summary: 'List reasoning modules: name, version, default weight, state, requests in flight, load time, size, content hash (sha256 of the files).' } }, async () => ({
    object: 'list',
    data: ctx.registry.list(),
  }));
}
