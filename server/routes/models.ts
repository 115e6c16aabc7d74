import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.js';

/** GET /v1/models: the base, and the module-selecting form of its id. */
export async function modelRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get('/v1/models', { schema: { summary: 'List the served model.' } }, async () => {
    const created = Math.floor(Date.now() / 1000);
    const base = ctx.engine.base;
    const reasoners = ctx.registry.names();
    return {
      object: 'list',
      data: [
        {
          id: ctx.modelId,
          object: 'model',
          created,
          owned_by: 'unir-serve',
          max_model_len: ctx.maxContext,
          // The id selects reasoning modules as `${ctx.modelId}+name1+name2` (default weights).
          reasoners,
          model_name_form: `${ctx.modelId}+<reasoner>[+<reasoner>...]`,
          execution_provider: base.ep,
        },
      ],
    };
  });
}
