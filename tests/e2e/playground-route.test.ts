import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { buildPlaygroundScripts } from '../helpers/playground-build.js';
import { startTestServer } from '../helpers/server.js';

type ErrorJson = { error: { code: string } };

/**
 * GET with the path exactly as written: fetch (WHATWG URL) would resolve '..', '%2e%2e' and '//' before
 * sending, so a traversal would never reach the server.
 */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The page's files over HTTP (the browser tests drive the page itself). */
let server: RunningServer;
let noUi: RunningServer;
beforeAll(async () => {
  buildPlaygroundScripts();
  [server, noUi] = await Promise.all([startTestServer(), startTestServer(['--no-ui'])]);
});
afterAll(async () => Promise.all([server?.close(), noUi?.close()]));

describe('GET / and /playground', () => {
  it.each(['/', '/playground'])('%s serves the page, allowed to load only from this server', async (path) => {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/ui/main.js"></script>');
    // No other host anywhere in the page: every src and href is this server's or inline data.
    for (const [, url] of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(url).toMatch(/^(\/|#|data:)/);
  });

  it('serves the compiled scripts and the stylesheet under /ui/', async () => {
    const js = await fetch(`${server.url}/ui/main.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await js.text()).toContain("from './column.js'");
    expect(js.headers.get('content-security-policy')).toContain("default-src 'self'");
    const css = await fetch(`${server.url}/ui/playground.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('serves nothing outside its two folders, and answers unknown files and traversals with a 404 error', async () => {
    const paths = [
      '/ui/missing.js', '/ui/src/main.ts', '/ui/tsconfig.json',
      // Sent as written (not resolved by a URL parser): traversals, the folder itself, a NUL byte.
      '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/%2e%2e/%2e%2e/package.json', '/ui/..%5cpackage.json',
      '/ui//etc/passwd', '/ui/....//package.json', '/ui/', '/ui/%2e%2e', '/ui/main.js%00.css',
    ];
    for (const path of paths) {
      const res = await rawGet(server.url, path);
      expect(res.status, path).toBe(404);
      expect((JSON.parse(res.body) as ErrorJson).error.code, path).toBe('not_found');
      expect(res.body, path).not.toContain('"private"');
    }
  });

  it('--no-ui serves no page and no scripts; the API still answers', async () => {
    for (const path of ['/', '/playground', '/ui/main.js']) {
      const res = await fetch(`${noUi.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as ErrorJson).error.code).toBe('not_found');
    }
    expect((await fetch(`${noUi.url}/v1/models`)).status).toBe(200);
  });
});
