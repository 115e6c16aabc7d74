import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { launchChromium, type LaunchedChromium } from '../../scripts/chromium.js';
import type { RunningServer } from '../../server/start.js';
import { buildPlaygroundScripts } from './playground-build.js';
import { startTestServer } from './server.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
// The page's globals, for functions that run in the browser (page.evaluate): this file is compiled without the DOM lib.
declare const document: any;
declare const window: any;

export type Frame = Record<string, any>;

/** A playground page in Chromium, with what it sent and received on /v1/stream and every URL it asked for. */
export interface PlaygroundPage {
  page: Page;
  /** WebSocket frames in the order the page saw them. */
  frames: { dir: 'sent' | 'received'; at: number; msg: Frame }[];
  /** Every URL the page requested (documents, scripts, styles, fetches, the WebSocket). */
  requests: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
  close(): Promise<void>;
}

/** Chromium for a browser test file, or the reason it cannot start (printed, so a skipped run says why). */
async function chromiumOrSkip(what: string): Promise<{ browser: LaunchedChromium; skipReason: null } | { browser: null; skipReason: string }> {
  const launched = await launchChromium();
  if ('context' in launched) return { browser: launched, skipReason: null };
  console.warn(`SKIPPED: ${what}: ${launched.reason} (install Debian's chromium: apt-get install chromium)`);
  return { browser: null, skipReason: launched.reason };
}

/** Polls until the assertion holds (admin loads and the first token can take seconds on a busy machine). */
export const eventually = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000, interval: 50 });

export interface PlaygroundSuite {
  /** Why Chromium cannot run here, or null: describe.skipIf(suite.skipReason !== null)(...). */
  skipReason: string | null;
  /** The demo server (after start()). */
  server: RunningServer;
  /** beforeAll: compiles the page's scripts, starts the real server with the demo base and both modules. */
  start(): Promise<void>;
  /** afterAll: closes the pages, the browser and the server. */
  stop(): Promise<void>;
  /** A new page on the playground (of the suite's server, or of the server at `url`), ready unless `waitReady` is false. */
  open(viewport?: { width: number; height: number }, url?: string, waitReady?: boolean): Promise<PlaygroundPage>;
}

/** A browser test file's Chromium and demo server. Call at the top of the file (it launches Chromium). */
export async function playgroundSuite(what: string, serverArgs: string[] = []): Promise<PlaygroundSuite> {
  const { browser, skipReason } = await chromiumOrSkip(what);
  const pages: PlaygroundPage[] = [];
  const suite: PlaygroundSuite = {
    skipReason,
    server: null as unknown as RunningServer,
    async start() {
      buildPlaygroundScripts();
      suite.server = await startTestServer(['--model', 'demo-models/base', '--served-model-name', 'unir-demo', '--reasoners-dir', 'demo-models/reasoners', ...serverArgs]);
    },
    async stop() {
      for (const p of pages) await p.close().catch(() => {});
      await browser?.close();
      await suite.server?.close();
    },
    async open(viewport, url = suite.server.url, waitReady = true) {
      const p = await openPlayground(browser!.context, url, viewport, waitReady);
      pages.push(p);
      return p;
    },
  };
  return suite;
}

export async function openPlayground(context: BrowserContext, url: string, viewport = { width: 1280, height: 800 }, waitReady = true): Promise<PlaygroundPage> {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  const out: PlaygroundPage = { page, frames: [], requests: [], errors: [], close: () => page.close() };
  page.on('request', (r) => out.requests.push(r.url()));
  page.on('console', (m) => m.type() === 'error' && out.errors.push(m.text()));
  page.on('pageerror', (e) => out.errors.push(e.message));
  page.on('websocket', (ws) => {
    out.requests.push(ws.url());
    const record = (dir: 'sent' | 'received') => (f: { payload: string | Buffer }) => out.frames.push({ dir, at: performance.now(), msg: JSON.parse(String(f.payload)) });
    ws.on('framesent', record('sent'));
    ws.on('framereceived', record('received'));
  });
  await page.goto(`${url}/`);
  if (waitReady) await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
  return out;
}

/** Column n (1-based, in page order). */
export function column(page: Page, n: number) {
  const root = page.locator('section.column').nth(n - 1);
  return {
    root,
    heading: root.locator('h2'),
    output: root.locator('.output'),
    error: root.locator('.error'),
    stat: (key: 'ttft' | 'speed' | 'tokens' | 'finish' | 'changed') => root.locator(`[data-stat="${key}"]`),
    field: (name: string) => root.locator(`[data-field="${name}"]`),
    button: (name: 'Run' | 'Stop') => root.getByRole('button', { name, exact: true }),
  };
}

/** Waits until every column shows a finish reason, and returns them. */
export async function waitFinished(page: Page, timeout = 30_000): Promise<string[]> {
  // Functions, not strings: the page's Content-Security-Policy forbids eval, and Playwright evals string predicates.
  await page.waitForFunction(() => [...document.querySelectorAll('[data-stat="finish"]')].every((e: any) => e.textContent !== '–'), null, { timeout });
  return page.locator('[data-stat="finish"]').allTextContents();
}

/** The generate messages the page sent, by id. */
export function sentGenerates(p: PlaygroundPage): Frame[] {
  return p.frames.filter((f) => f.dir === 'sent' && f.msg.type === 'generate').map((f) => f.msg);
}
