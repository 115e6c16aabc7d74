import type { FastifyInstance } from 'fastify';
import { resolveModulePath } from '../../adapters/module-path.js';
import { UnirError } from '../../common/errors.js';
import { adminGuard } from '../admin-auth.js';
import { publicInfo } from './reasoners.js';
import type { RouteAuthConfig } from '../api-key-guard.js';
import type { AppContext } from '../app-context.js';
import { watchesModulesRoot } from '../options.js';
import { loadReasonerBodySchema, reasonerNameParamsSchema, type LoadReasonerBody } from '../schemas/admin-schema.js';

/**
 * The admin API: POST /v1/reasoners loads or replaces a module, DELETE /v1/reasoners/:name unloads one.
 * Guarded by --admin-token (bearer) or, without one, by a loopback-only rule. GET /v1/reasoners stays public
 * (routes/reasoners.ts): clients read it to choose modules.
 */
export async function adminRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  // onRequest: refused before the body is even parsed. The API key guard leaves these routes to this one.
  app.addHook('onRequest', adminGuard(ctx.options.adminToken));
  const config: RouteAuthConfig = { auth: 'admin' };
  // Shared mode: the watched root is the one source of truth for every replica (docs/admin-api.md, Replicas).
  app.addHook('onRequest', async () => {
    if (watchesModulesRoot(ctx.options)) {
      throw new UnirError(
        'modules_root_watched',
        'this server follows its modules root (--watch / --watch-poll), which decides the modules of every replica sharing it: ' +
          'a load or unload here would change this replica only. Copy the module directory into the modules root to load it ' +
          '(or replace its files to replace it), and remove it to unload it.',
      );
    }
  });

  app.post<{ Body: LoadReasonerBody }>(
    '/v1/reasoners',
    { config, schema: { body: loadReasonerBodySchema, summary: 'Load a reasoning module from a directory under --reasoners-dir, or replace one (admin).' } },
    async (req, reply) => {
      const body = req.body;
      const registry = ctx.registry;
      const dir = await resolveModulePath(ctx.options.reasonersDir, body.path);
      const before = new Set(registry.names());
      // Reads the manifest, then loads and checks the module in its own worker thread: the event loop is free.
      const onnx = body.dtype || body.onnx_file ? { dtype: body.dtype ?? null, onnxFile: body.onnx_file ?? null } : undefined;
      const info = await registry.load(dir, { name: body.name, defaultWeight: body.default_weight, replace: body.replace ?? false, onnx });
      const replaced = before.has(info.name);
      req.log.info({ remoteAddress: req.ip, reasoner: info.name, version: info.version, path: body.path, replaced, loadMs: info.load_ms, onnx: info.onnx }, 'reasoning module loaded (admin)');
      return reply.code(replaced ? 200 : 201).send({ object: 'reasoner', ...publicInfo(registry, info), replaced });
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/reasoners/:name',
    { config, schema: { params: reasonerNameParamsSchema, summary: 'Unload a reasoning module: new requests naming it get 404, requests in flight finish (admin).' } },
    async (req) => {
      const { name } = req.params;
      const registry = ctx.registry;
      if (!registry.has(name)) {
        // A module that only failed to load: deleting it clears the failure shown in GET /v1/reasoners.
        const failed = registry.list().find((i) => i.name === name && i.state === 'failed');
        if (failed && registry.forgetFailure(name)) return { object: 'reasoner', ...publicInfo(registry, failed), deleted: true };
        const known = registry.names();
        throw new UnirError('reasoner_not_found', `no reasoning module named ${name} is loaded${known.length ? ` (loaded: ${known.join(', ')})` : ''}`, 'name');
      }
      const info = registry.unload(name);
      registry.forgetFailure(name);
      req.log.info({ remoteAddress: req.ip, reasoner: name, version: info.version, inFlight: info.in_flight }, 'reasoning module unloaded (admin); draining');
      return { object: 'reasoner', ...publicInfo(registry, info), deleted: true };
    },
  );
}
