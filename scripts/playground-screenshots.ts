/**
 * npm run screenshots: the playground's pictures in docs/ (README shows them). Starts the server with the demo
 * models on a free loopback port, opens the page in Debian's chromium (light and dark at 1280x800, and a
 * phone-width window), runs the default prompt in both columns, and saves what the page shows.
 */
import pino from 'pino';
import { parseServerOptions } from '../server/options.js';
import { startServer } from '../server/start.js';
import { launchChromium } from './chromium.js';

// The page's global, for the function that runs in the browser (this file is compiled without the DOM lib).
declare const document: { querySelectorAll(s: string): Iterable<{ textContent: string | null }> };

const SHOTS = [
  { file: 'docs/playground-light.png', colorScheme: 'light', viewport: { width: 1280, height: 800 } },
  { file: 'docs/playground-dark.png', colorScheme: 'dark', viewport: { width: 1280, height: 800 } },
  { file: 'docs/playground-phone.png', colorScheme: 'light', viewport: { width: 390, height: 844 } },
] as const;

const options = parseServerOptions(
  ['--model', 'demo-models/base', '--served-model-name', 'unir-demo', '--reasoners-dir', 'demo-models/reasoners', '--port', '0'],
  {},
);
const server = await startServer(options, pino({ level: 'warn' }));
try {
  await server.ready;
  for (const shot of SHOTS) {
    const browser = await launchChromium({ colorScheme: shot.colorScheme });
    if ('reason' in browser) throw new Error(browser.reason);
    try {
      const page = await browser.context.newPage();
      await page.setViewportSize(shot.viewport);
      await page.goto(`${server.url}/`);
      await page.waitForSelector('body[data-ready="true"]');
      await page.click('#run-all');
      // A function, not a string: the page's Content-Security-Policy forbids eval.
      await page.waitForFunction(() => [...document.querySelectorAll('[data-stat="finish"]')].every((e) => e.textContent !== '–'));
      await page.screenshot({ path: shot.file });
      console.log(`wrote ${shot.file}`);
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.close();
}
