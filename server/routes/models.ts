import type { FastifyInstance } from 'fastify';
import { UnirError } from '../../common/errors.js';
import type { AppContext } from '../app-context.js';

/** GET /v1/models: the base, and the module-selecting form of its id; GET /v1/models/{model}: one id (OpenAI's retrieve). */
export async function modelRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const modelObject = (id: string) => {
    const reasoners = ctx.registry.names();
    return {
      id,
      object: 'model',
      created: Math.floor(Date.now() / 1000),
      owned_by: 'unir-serve',
      max_model_len: ctx.maxContext,
      // The id selects reasoning modules as `${ctx.modelId}+name1+name2` (default weights).
      reasoners,
      model_name_form: `${ctx.modelId}+<reasoner>[+<reasoner>...]`,
      execution_provider: ctx.engine.base.ep,
    };
  };

  app.get('/v1/models', { schema: { summary: 'List the served model.' } }, async () => ({ object: 'list', data: [modelObject(ctx.modelId)] }));

  app.get<{ Params: { model: string } }>(
    '/v1/models/:model',
    { schema: { summary: 'The served model by its id, also in the BASE+module form with loaded modules; else 404 model_not_found.' } },
    async (req) => {
      const [baseId, ...modules] = req.params.model.split('+');
      const loaded = new Set(ctx.registry.names());
      if (baseId !== ctx.modelId || modules.some((m) => !loaded.has(m))) {
        throw new UnirError('model_not_found', `The model \`${req.params.model}\` does not exist: this server serves \`${ctx.modelId}\` (with modules: ${ctx.modelId}+name)`, 'model');
      }
      return modelObject(req.params.model);
    },
  );
}
