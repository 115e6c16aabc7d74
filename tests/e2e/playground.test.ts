import type { WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { column, eventually, playgroundSuite, sentGenerates, waitFinished, type Frame } from '../helpers/playground-page.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * The playground in a real browser (Debian's chromium through playwright-core) against the real server with
 * the demo models. Skipped, with the reason printed, where Chromium cannot be launched.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
// The page's globals, for functions that run in the browser (page.evaluate): this file is compiled without the DOM lib.
declare const document: any;
declare const window: any;

const TOKEN = 'playground-admin-token';
const suite = await playgroundSuite('playground browser tests', ['--admin-token', TOKEN]);
const open = suite.open;
const PROMPT = 'add 4821+937=';
const BOTH = [{ name: 'add', weight: 1 }, { name: 'sort', weight: 1 }];
async function completion(body: Record<string, unknown>): Promise<{ text: string; finish_reason: string; tokens: number }> {
  const res = await postJson(`${suite.server.url}/v1/completions`, { model: 'unir-demo', temperature: 0, ...body });
  expect(res.status).toBe(200);
  return { text: res.body.choices[0].text, finish_reason: res.body.choices[0].finish_reason, tokens: res.body.usage.completion_tokens };
}

describe.skipIf(suite.skipReason !== null)('playground in Chromium, demo models', () => {
  beforeAll(suite.start);
  afterAll(suite.stop);

  it('loads from the server alone, with base alone and base + every module as its columns', async () => {
    const p = await open();
    expect(await p.page.locator('#model').textContent()).toBe('unir-demo');
    expect(await p.page.locator('section.column h2').allTextContents()).toEqual(['Column 1: base', 'Column 2: base + add ×1 + sort ×1']);
    await p.page.click('#run-all');
    await waitFinished(p.page);
    const origin = new URL(suite.server.url).host;
    for (const url of p.requests) expect(new URL(url).host, url).toBe(origin);
    expect(p.errors).toEqual([]);
  });

  it('streams both columns at once; each column shows the API\'s greedy text, token count and finish reason', async () => {
    const p = await open();
    await p.page.click('#run-all');
    const finishes = await waitFinished(p.page);
    const [base, fused] = [await completion({ prompt: PROMPT, max_tokens: 64, reasoners: [] }), await completion({ prompt: PROMPT, max_tokens: 64, reasoners: BOTH })];
    expect(base.text).not.toBe(fused.text);
    expect(await column(p.page, 1).output.textContent()).toBe(base.text);
    expect(await column(p.page, 2).output.textContent()).toBe(fused.text);
    expect(finishes).toEqual([base.finish_reason, fused.finish_reason]);
    expect(await column(p.page, 2).stat('tokens').textContent()).toBe(String(fused.tokens));
    expect(await column(p.page, 2).stat('ttft').textContent()).toMatch(/^\d+ ms$/);
    expect(await column(p.page, 2).stat('speed').textContent()).toMatch(/^\d+(\.\d)?$/);

    // The two requests the page sent, and their token frames interleaved on the one socket.
    const [g1, g2] = sentGenerates(p);
    expect(g1).toMatchObject({ prompt: PROMPT, reasoners: [], max_tokens: 64, temperature: 0, return_attribution: true });
    expect(g2).toMatchObject({ prompt: PROMPT, reasoners: BOTH, max_tokens: 64, temperature: 0 });
    const tokenIndexes = (id: string) => p.frames.flatMap((f, i) => (f.dir === 'received' && f.msg.type === 'token' && f.msg.id === id ? [i] : []));
    const [t1, t2] = [tokenIndexes(g1.id), tokenIndexes(g2.id)];
    expect(t2.length).toBe(fused.tokens);
    expect(t1[0]).toBeLessThan(t2[t2.length - 1]);
    expect(t2[0]).toBeLessThan(t1[t1.length - 1]);
  });

  it('chat mode streams what /v1/chat/completions returns for the same messages', async () => {
    const p = await open();
    await p.page.getByLabel('Chat').check();
    await p.page.getByLabel('User message').fill('sort 8 2 6 4 9 1=');
    await p.page.click('#run-all');
    await waitFinished(p.page);
    const res = await postJson(`${suite.server.url}/v1/chat/completions`, {
      model: 'unir-demo',
      messages: [{ role: 'user', content: 'sort 8 2 6 4 9 1=' }],
      max_tokens: 64,
      temperature: 0,
      reasoners: BOTH,
    });
    expect(res.status).toBe(200);
    expect(res.body.choices[0].message.content).toBe(' 1 2 4 6 8 9');
    expect(await column(p.page, 2).output.textContent()).toBe(res.body.choices[0].message.content);
  });

  it('Stop cancels its column only', async () => {
    const p = await open();
    const long = column(p.page, 2);
    await long.field('ignore-eos').check();
    await long.field('max-tokens').fill('2000');
    await p.page.click('#run-all');
    await p.page.waitForFunction(() => Number(document.querySelectorAll('[data-stat="tokens"]')[1].textContent) >= 5);
    await long.button('Stop').click();
    const finishes = await waitFinished(p.page);
    expect(finishes).toEqual([(await completion({ prompt: PROMPT, max_tokens: 64, reasoners: [] })).finish_reason, 'cancelled']);
    expect(Number(await long.stat('tokens').textContent())).toBeLessThan(2000);
    const id = sentGenerates(p)[1].id;
    expect(p.frames.some((f) => f.dir === 'sent' && f.msg.type === 'cancel' && f.msg.id === id)).toBe(true);
    await eventually(() => long.button('Stop').isDisabled()).toBe(true);
  });

  it('a bad weight shows the server\'s error in its column; the other column still runs', async () => {
    const p = await open();
    const bad = column(p.page, 2);
    await bad.field('weight-add').fill('50');
    expect(await bad.heading.textContent()).toBe('Column 2: base + add ×50 + sort ×1');
    await p.page.click('#run-all');
    const finishes = await waitFinished(p.page);
    expect(finishes[1]).toBe('error');
    await eventually(() => bad.error.isVisible()).toBe(true);
    expect(await bad.error.getAttribute('role')).toBe('alert');
    expect(await bad.error.textContent()).toMatch(/^invalid_request: 'reasoners\.0\.weight' must be <= 10/);
    expect(await column(p.page, 1).output.textContent()).toBe((await completion({ prompt: PROMPT, max_tokens: 64, reasoners: [] })).text);
  });

  it('more columns than --ws-max-generations: the extra columns wait for a free slot, then stream', async () => {
    const p = await open();
    // 10 columns, 8 tokens each: the server runs 8 generations per socket (its default --ws-max-generations).
    for (let n = 3; n <= 10; n++) await p.page.getByRole('button', { name: 'Add column' }).click();
    for (let n = 1; n <= 10; n++) await column(p.page, n).field('max-tokens').fill('8');
    await p.page.click('#run-all');
    const finishes = await waitFinished(p.page);
    const [base, fused] = [await completion({ prompt: PROMPT, max_tokens: 8, reasoners: [] }), await completion({ prompt: PROMPT, max_tokens: 8, reasoners: BOTH })];
    expect(finishes).toEqual([base.finish_reason, ...Array(9).fill(fused.finish_reason)]);
    expect(await p.page.locator('section.column .error:visible').count()).toBe(0);
    for (let n = 2; n <= 10; n++) expect(await column(p.page, n).output.textContent(), `column ${n}`).toBe(fused.text);
    // Two of them were refused by the server and sent again when a generation ended.
    const refused = p.frames.filter((f) => f.dir === 'received' && f.msg.type === 'error').map((f) => f.msg.error.code);
    expect(refused).toEqual(['too_many_generations', 'too_many_generations']);
    expect(sentGenerates(p).length).toBe(12);
  });

  it('Stop all while columns wait for a slot: every column ends cancelled, the waiting ones never sent again', async () => {
    const p = await open();
    for (let n = 3; n <= 10; n++) await p.page.getByRole('button', { name: 'Add column' }).click();
    for (let n = 1; n <= 10; n++) {
      await column(p.page, n).field('ignore-eos').check();
      await column(p.page, n).field('max-tokens').fill('1000');
    }
    await p.page.click('#run-all');
    for (const n of [9, 10]) await eventually(() => column(p.page, n).root.locator('.column-note').textContent()).toMatch(/^Waiting: /);
    await p.page.click('#stop-all');
    expect(await waitFinished(p.page)).toEqual(Array(10).fill('cancelled'));
    expect(await p.page.locator('section.column .error:visible').count()).toBe(0);
    expect(sentGenerates(p).length).toBe(10);
    for (const n of [9, 10]) expect(await column(p.page, n).root.locator('.column-note').textContent()).toBe('');
  });

  it('Run pressed again and again (or Ctrl+Enter held): only the last run counts, and it runs', async () => {
    const p = await open();
    // Each press cancels the column's generation and starts one; the cancelled ones hold the server's slots until their done.
    await p.page.evaluate(() => {
      const run = document.querySelectorAll('section.column')[1].querySelector('button.run');
      for (let i = 0; i < 20; i++) run.click();
    });
    await p.page.waitForFunction(() => document.querySelectorAll('[data-stat="finish"]')[1].textContent !== '–', null, { timeout: 30_000 });
    const fused = await completion({ prompt: PROMPT, max_tokens: 64, reasoners: BOTH });
    expect(await column(p.page, 2).stat('finish').textContent()).toBe(fused.finish_reason);
    expect(await column(p.page, 2).error.isVisible()).toBe(false);
    expect(await column(p.page, 2).output.textContent()).toBe(fused.text);
    // No generation the page had cancelled went out again (after the server refused it at the limit) to run for nothing.
    const sent = p.frames.flatMap((f, i) => (f.dir === 'sent' ? [{ i, type: f.msg.type as string, id: f.msg.id as string }] : []));
    const resentAfterCancel = sent.filter((g) => g.type === 'generate' && sent.some((c) => c.type === 'cancel' && c.id === g.id && c.i < g.i));
    expect(resentAfterCancel).toEqual([]);
  });

  it('a long output follows its newest tokens, unless the reader scrolled up', async () => {
    const p = await open();
    const streams: { ws: WebSocketRoute; id: string }[] = [];
    await p.page.routeWebSocket(/\/v1\/stream$/, (ws) => {
      ws.onMessage((data) => {
        const m = JSON.parse(String(data)) as Frame;
        if (m.type === 'generate') streams.push({ ws, id: m.id });
      });
    });
    const lines = (s: { ws: WebSocketRoute; id: string }, from: number, to: number) => {
      for (let i = from; i < to; i++) s.ws.send(JSON.stringify({ type: 'token', id: s.id, index: 0, text: `line ${i}\n`, token_id: 1 }));
    };
    const scroll = (n: number) => column(p.page, n).output.evaluate((e: any) => ({ top: e.scrollTop, bottom: e.scrollHeight - e.clientHeight }));
    await p.page.click('#run-all');
    await eventually(() => streams.length).toBe(2);
    for (const s of streams) lines(s, 0, 100);
    await eventually(() => column(p.page, 2).stat('tokens').textContent()).toBe('100');
    for (const n of [1, 2]) expect((await scroll(n)).bottom).toBeGreaterThan(200);
    for (const n of [1, 2]) expect((await scroll(n)).top).toBe((await scroll(n)).bottom);
    // The reader scrolls column 1 up: its view stays there while tokens come; column 2 follows on.
    await column(p.page, 1).output.evaluate((e: any) => (e.scrollTop = 40));
    for (const s of streams) lines(s, 100, 150);
    for (const s of streams) s.ws.send(JSON.stringify({ type: 'done', id: s.id, finish_reason: 'length', stop_reason: null, text: '', usage: { prompt_tokens: 4, completion_tokens: 150, total_tokens: 154 } }));
    await waitFinished(p.page);
    expect((await scroll(1)).top).toBe(40);
    expect((await scroll(2)).top).toBe((await scroll(2)).bottom);
  });

  it('adds, edits (checkbox, slider) and removes columns; every column streams its own configuration', async () => {
    const p = await open();
    await p.page.getByRole('button', { name: 'Add column' }).click();
    const third = column(p.page, 3);
    expect(await third.heading.textContent()).toBe('Column 3: base + add ×1 + sort ×1');
    await third.field('use-sort').uncheck();
    await third.root.getByLabel('add weight (slider)').focus();
    for (let i = 0; i < 4; i++) await p.page.keyboard.press('ArrowLeft');
    expect(await third.field('weight-add').inputValue()).toBe('0.8');
    expect(await third.heading.textContent()).toBe('Column 3: base + add ×0.8');
    await p.page.click('#run-all');
    await waitFinished(p.page);
    expect(sentGenerates(p)[2].reasoners).toEqual([{ name: 'add', weight: 0.8 }]);
    expect(await third.output.textContent()).toBe((await completion({ prompt: PROMPT, max_tokens: 64, reasoners: [{ name: 'add', weight: 0.8 }] })).text);

    await column(p.page, 1).root.getByRole('button', { name: 'Remove column 1' }).click();
    await column(p.page, 1).root.getByRole('button', { name: 'Remove column 2' }).click();
    expect(await p.page.locator('section.column h2').allTextContents()).toEqual(['Column 3: base + add ×0.8']);
    expect(await p.page.getByRole('button', { name: 'Remove column 3' }).isDisabled()).toBe(true);
  });

  it('works from the keyboard: every control is labelled, Ctrl+Enter runs all columns', async () => {
    const p = await open();
    const unlabelled = await p.page.evaluate(() =>
      [...document.querySelectorAll('input, textarea, button, select')].filter((e: any) => !e.labels?.length && !e.getAttribute('aria-label') && !e.textContent.trim()).map((e: any) => e.outerHTML),
    );
    expect(unlabelled).toEqual([]);
    await p.page.focus('#prompt');
    await p.page.keyboard.press('Control+A');
    await p.page.keyboard.type('add 512+489=');
    await p.page.keyboard.press('Tab');
    expect(await p.page.evaluate(() => document.activeElement?.id)).toBe('run-all');
    await p.page.focus('#prompt');
    await p.page.keyboard.press('Control+Enter');
    await waitFinished(p.page);
    expect(await column(p.page, 2).output.textContent()).toBe((await completion({ prompt: 'add 512+489=', max_tokens: 64, reasoners: BOTH })).text);

    // Run, Tab to Stop, Enter: Stop is disabled once the column ends, and the keyboard stays in the column (on Run).
    const long = column(p.page, 2);
    await long.field('ignore-eos').check();
    await long.field('max-tokens').fill('2000');
    await long.button('Run').focus();
    await p.page.keyboard.press('Enter');
    await p.page.keyboard.press('Tab');
    expect(await p.page.evaluate(() => document.activeElement?.textContent)).toBe('Stop');
    await p.page.keyboard.press('Enter');
    await eventually(() => long.stat('finish').textContent()).toBe('cancelled');
    expect(await p.page.evaluate(() => [document.activeElement?.textContent, document.activeElement?.closest('section')?.dataset.column])).toEqual(['Run', '2']);
  });

  it('fits 1280x800 side by side and a phone-width window stacked, without sideways scrolling', async () => {
    for (const [viewport, sideBySide] of [[{ width: 1280, height: 800 }, true], [{ width: 390, height: 844 }, false]] as const) {
      const p = await open(viewport);
      const [a, b] = [await column(p.page, 1).root.boundingBox(), await column(p.page, 2).root.boundingBox()];
      if (sideBySide) {
        expect(b!.y).toBe(a!.y);
        expect(b!.x).toBeGreaterThanOrEqual(a!.x + a!.width);
      } else {
        expect(b!.y).toBeGreaterThanOrEqual(a!.y + a!.height);
      }
      expect(await p.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    }
  });

  it('a module unloaded elsewhere: the column says so and the page drops it from its columns', async () => {
    const p = await open();
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await fetch(`${suite.server.url}/v1/reasoners/sort`, { method: 'DELETE', headers: auth })).status).toBe(200);
    try {
      await p.page.click('#run-all');
      await waitFinished(p.page);
      expect(await column(p.page, 2).error.textContent()).toMatch(/^reasoner_not_found: no reasoning module named sort is loaded/);
      await eventually(() => column(p.page, 2).heading.textContent()).toBe('Column 2: base + add ×1');
      expect(await column(p.page, 1).root.locator('.module-row label').allTextContents()).toEqual(['add']);
      await column(p.page, 2).button('Run').click();
      await eventually(() => column(p.page, 2).stat('finish').textContent()).toMatch(/^(stop|length)$/);
      expect(await column(p.page, 2).output.textContent()).toBe((await completion({ prompt: PROMPT, max_tokens: 64, reasoners: [{ name: 'add', weight: 1 }] })).text);
    } finally {
      expect((await postJson(`${suite.server.url}/v1/reasoners`, { path: 'sort' }, auth)).status).toBe(201);
    }
  });

  it('the server restarts under an open page: the page says so, and the next run connects again', async () => {
    // A server of its own (the fixture base, no modules), stopped and started again on the same port.
    let own = await startTestServer();
    const port = new URL(own.url).port;
    try {
      const p = await open(undefined, own.url);
      const state = p.page.locator('#connection');
      await p.page.click('#run-all');
      expect(await waitFinished(p.page)).toEqual(['length']);
      expect(await state.textContent()).toBe('open');

      await own.close();
      await eventually(() => state.textContent()).toBe('closed: reconnects on the next run');
      await p.page.click('#run-all');
      expect(await waitFinished(p.page)).toEqual(['error']);
      expect(await column(p.page, 1).error.textContent()).toMatch(/^connection_failed: could not connect to ws:\/\/127\.0\.0\.1:\d+\/v1\/stream \(is the server running\? A server with --api-key needs the API key above\)$/);

      own = await startTestServer(['--port', port]);
      await p.page.click('#run-all');
      await eventually(() => column(p.page, 1).stat('finish').textContent()).toBe('length');
      expect(await column(p.page, 1).error.isVisible()).toBe(false);
      expect(await state.textContent()).toBe('open');
    } finally {
      await own.close();
    }
  });

  it('with --api-key: without a key the page says one is needed; with the key entered both columns stream', async () => {
    const key = 'playground-api-key';
    const own = await startTestServer(['--model', 'demo-models/base', '--served-model-name', 'unir-demo', '--reasoners-dir', 'demo-models/reasoners', '--api-key', key]);
    try {
      const p = await open(undefined, own.url, false);
      const needed = p.page.locator('#api-key-needed');
      await eventually(() => needed.textContent()).toMatch(/^This server needs an API key .*\(this server needs an API key: send Authorization: Bearer <key>\)$/);
      expect(await p.page.locator('#model').textContent()).toBe('needs an API key');
      expect(await p.page.locator('section.column').count()).toBe(0);

      const field = p.page.getByLabel('API key');
      expect(await field.getAttribute('type')).toBe('password');
      await field.focus();
      await p.page.keyboard.type('not-the-key');
      await p.page.keyboard.press('Enter');
      await eventually(() => needed.textContent()).toMatch(/\(the API key is not valid\)$/);
      expect(await needed.isVisible()).toBe(true);
      await p.page.keyboard.press('Control+A');
      await p.page.keyboard.type(key);
      await p.page.keyboard.press('Enter');
      await p.page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
      expect(await needed.isVisible()).toBe(false);
      expect(await p.page.locator('#model').textContent()).toBe('unir-demo');
      // Kept for this tab only.
      expect(await p.page.evaluate(() => [window.sessionStorage.getItem('unir-serve.api-key'), window.localStorage.length])).toEqual([key, 0]);

      await p.page.click('#run-all');
      expect(await waitFinished(p.page)).toEqual(['stop', 'stop']);
      for (const [n, reasoners] of [[1, []], [2, BOTH]] as const) {
        const res = await postJson(`${own.url}/v1/completions`, { model: 'unir-demo', prompt: PROMPT, max_tokens: 64, temperature: 0, reasoners }, { authorization: `Bearer ${key}` });
        expect(res.status).toBe(200);
        expect(await column(p.page, n).output.textContent()).toBe(res.body.choices[0].text);
      }
      expect(sentGenerates(p)).toHaveLength(2);
      // The only errors are the browser's own notes of the two 401s (the page read them and asked for the key).
      expect([...p.errors]).toEqual(Array(2).fill('Failed to load resource: the server responded with a status of 401 (Unauthorized)'));
    } finally {
      await own.close();
    }
  });

  it('admin view: lists modules; refuses without the token; unloads, loads and replaces with it', async () => {
    const p = await open();
    const page = p.page;
    await page.getByRole('button', { name: 'Modules (admin)' }).click();
    await eventually(() => page.locator('#admin-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-module')))).toEqual(['add', 'sort']);

    await page.getByRole('button', { name: 'Unload sort' }).click();
    await eventually(() => page.locator('#admin-error').textContent()).toMatch(/^Unload of sort failed: unauthorized: the admin API needs a bearer token/);

    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Unload sort' }).click();
    await eventually(() => page.locator('#admin-status').textContent()).toMatch(/^Unloaded sort/);
    await eventually(() => column(page, 2).heading.textContent()).toBe('Column 2: base + add ×1');
    await eventually(async () => (await postJson(`${suite.server.url}/v1/completions`, { model: 'unir-demo+sort', prompt: 'x' })).status).toBe(404);

    await page.getByLabel(/^Path/).fill('sort');
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    await eventually(() => page.locator('#admin-status').textContent()).toMatch(/^Loaded sort 1\.0\.0/);
    await eventually(() => column(page, 1).root.locator('.module-row label').allTextContents()).toEqual(['add', 'sort']);

    await page.getByRole('button', { name: 'Replace add' }).click();
    expect(await page.getByLabel('Replace the loaded module of that name').isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    await eventually(() => page.locator('#admin-status').textContent()).toMatch(/^Replaced add 1\.0\.0/);
    expect(await page.locator('#admin-error').isVisible()).toBe(false);
  });
});
