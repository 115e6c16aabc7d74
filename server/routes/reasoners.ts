import type { FastifyInstance } from 'fastify';
import type { ReasonerInfo, ReasonerRegistry } from '../../adapters/reasoner-registry.js';
import type { AppContext } from '../app-context.js';
import { redactPaths } from '../redact-paths.js';

/** GET /v1/reasoners: the loaded modules (admin routes add load, replace and unload). */
export async function reasonerListRoute(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get('/v1/reasoners', { schema: { summary: 'List reasoning modules: name, version, default weight, state, requests in flight, load time, size, content hash (sha256 of the files).' } }, async () => ({
    object: 'list',
    data: ctx.registry.list().map((i) => publicInfo(ctx.registry, i)),
  }));
}

/** A module as clients see it: its directory relative to the modules root, errors without server paths. */
export function publicInfo(registry: ReasonerRegistry, info: ReasonerInfo): ReasonerInfo {
  return { ...info, path: registry.shownPath(info.path), error: info.error === null ? null : redactPaths(info.error) };
}
