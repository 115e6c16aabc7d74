import type { FastifyInstance, RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    /** One line for the endpoint reference and /openapi.json. */
    summary?: string;
  }
}

interface CollectedRoute {
  method: string;
  url: string;
  summary: string;
  body: unknown;
}

/**
 * Builds the OpenAPI 3.1 document from the routes' own schemas (the same objects that validate requests),
 * so /openapi.json cannot drift from the code. Call before routes are registered.
 */
export function collectOpenApi(app: FastifyInstance, info: { title: string; version: string }): () => object {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || !route.schema?.summary) continue;
      routes.push({ method: method.toLowerCase(), url: route.url, summary: route.schema.summary, body: route.schema.body ?? null });
    }
  });
  return () => {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of routes) {
      const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
      const params = [...r.url.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      paths[path] ??= {};
      paths[path][r.method] = {
        summary: r.summary,
        ...(params.length ? { parameters: params } : {}),
        ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } } : {}),
        responses: {
          '200': { description: 'Success.' },
          default: { description: 'An error in OpenAI\'s shape.', content: { 'application/json': { schema: ERROR_SCHEMA } } },
        },
      };
    }
    return { openapi: '3.1.0', info, paths };
  };
}

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type', 'param', 'code'],
      properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: 'string' } },
    },
  },
};
