import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UnirError } from '../../common/errors.js';

/**
 * The page may load only what this server serves (no CDN, no other host): scripts, styles and the
 * WebSocket of its own origin. 'self' in connect-src covers ws:// and wss:// of the same host (CSP 3).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface PlaygroundDirs {
  /** ui/public: the HTML and CSS, served as written. */
  pageDir: string;
  /** dist/ui: the page's scripts, compiled from ui/src by `tsc -p ui/tsconfig.json` (part of `npm run build`). */
  scriptDir: string;
}

/** The repository root seen from this file, whether it runs from source (server/routes) or built (dist/server/routes). */
export function playgroundDirs(): PlaygroundDirs {
  const roots = ['../../', '../../../'].map((up) => fileURLToPath(new URL(up, import.meta.url)));
  const root = roots.find((r) => existsSync(`${r}ui/public/index.html`));
  if (!root) throw new Error(`the playground's files (ui/public/index.html) are not under ${roots.join(' or ')}`);
  return { pageDir: `${root}ui/public`, scriptDir: `${root}dist/ui` };
}

/**
 * GET / and GET /playground: the playground page (side-by-side generations over /v1/stream, attribution,
 * module admin); GET /ui/*: its styles and scripts. Not registered with --no-ui.
 */
export async function playgroundRoutes(app: FastifyInstance, dirs: PlaygroundDirs = playgroundDirs()): Promise<void> {
  // @fastify/static answers a path it refuses (a traversal, the folder itself, a NUL byte) with a 403 error, which the
  // app's handler would turn into a logged 500: there is nothing there, so it is the 404 any unknown route gets.
  // Thrown here, the error goes on to the app's handler (fastify's chain of error handlers).
  app.setErrorHandler((err: { statusCode?: number }, req) => {
    if (err.statusCode === 403) throw new UnirError('not_found', `no route ${req.method} ${req.url.split('?')[0]}`);
    throw err;
  });
  // Both roots are looked up in order; nothing outside them is served (@fastify/static refuses ../; dotfiles ignored).
  await app.register(fastifyStatic, {
    root: [dirs.pageDir, dirs.scriptDir],
    prefix: '/ui/',
    index: false,
    dotfiles: 'ignore',
    // Every file, the page included (sendFile below), carries the policy.
    setHeaders: (reply) => {
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
    },
  });
  const page = {
    schema: { summary: 'The playground page: base and base + modules side by side, streaming, with attribution and module admin (off with --no-ui).' },
    handler: async (_req: unknown, reply: FastifyReply) => {
      if (!existsSync(`${dirs.scriptDir}/main.js`)) {
        throw new UnirError('internal_error', `the playground's scripts are not built (${dirs.scriptDir}/main.js is missing): run \`npm run build\``);
      }
      return reply.sendFile('index.html', dirs.pageDir);
    },
  };
  app.get('/', page);
  app.get('/playground', page);
}
