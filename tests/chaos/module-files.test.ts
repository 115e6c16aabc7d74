import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageModule } from '../../adapters/module-files.js';
import type { RunningServer } from '../../server/start.js';
import { REASONERS } from '../helpers/fixtures.js';
import { WRONG_KV_MODULE } from '../helpers/hostile.js';
import { postJson, startTestServer } from '../helpers/server.js';

/**
 * Module files are opened once, through handles, inside the modules root: a directory swapped for a link after
 * a check cannot redirect a read, a link that leaves the root is refused however deep, a FIFO is refused at
 * once instead of hanging a load, and a module whose KV cache has another layout is refused at load.
 */
const R1 = join(REASONERS, 'r1');
const admin = (url: string, body: object) => postJson(`${url}/v1/reasoners`, body);
type Info = { name: string; state: string; error: string | null; path: string };
const list = async (url: string): Promise<Info[]> => ((await (await fetch(`${url}/v1/reasoners`)).json()) as { data: Info[] }).data;

/** Flips root/race between a real directory and a link to `outside`, every 1-9 ms, in a process of its own. */
function startSwapper(root: string, outside: string): ChildProcess {
  const script = `
    const fs = require('node:fs'); const p = require('node:path');
    const [root, outside] = process.argv.slice(1);
    const race = p.join(root, 'race'), real = p.join(root, '.race-real'), link = p.join(root, '.race-link');
    let isLink = false;
    const flip = () => {
      try {
        if (isLink) { fs.unlinkSync(race); fs.renameSync(real, race); } else { fs.renameSync(race, real); fs.symlinkSync(outside, link); fs.renameSync(link, race); }
        isLink = !isLink;
      } catch {}
      setTimeout(flip, 1 + Math.floor(Math.random() * 9));
    };
    flip();`;
  return spawn(process.execPath, ['-e', script, root, outside], { stdio: 'ignore' });
}

describe('module files under a hostile modules root', () => {
  let server: RunningServer;
  let root: string;
  let outside: string;
  let staging: string;
  const savedTmp = process.env.TMPDIR;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'unir-chaos-root-'));
    outside = mkdtempSync(join(tmpdir(), 'unir-chaos-outside-'));
    // Staging copies go to TMPDIR: a directory of this test's own, to see that every copy is removed.
    staging = mkdtempSync(join(tmpdir(), 'unir-chaos-staging-'));
    process.env.TMPDIR = staging;
    cpSync(R1, join(root, 'r1'), { recursive: true });
    // A module whose config.json is a link leaving the root: refused at start-up as by the admin API.
    cpSync(R1, join(root, 'linked-config'), { recursive: true });
    cpSync(join(R1, 'config.json'), join(outside, 'config.json'));
    rmSync(join(root, 'linked-config', 'config.json'));
    symlinkSync(join(outside, 'config.json'), join(root, 'linked-config', 'config.json'));
    writeFileSync(join(root, 'linked-config', 'unir.json'), JSON.stringify({ name: 'linked-config' }));
    cpSync(WRONG_KV_MODULE, join(root, 'staged', 'wrong-kv'), { recursive: true });
    server = await startTestServer(['--reasoners-dir', root]);
  });
  afterAll(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await server?.close();
    for (const d of [root, outside, staging]) rmSync(d, { recursive: true, force: true });
  });

  it('the start-up scan refuses a file linked outside the root, with the admin API\'s reason', async () => {
    const entry = (await list(server.url)).find((i) => i.name === 'linked-config')!;
    expect(entry.state).toBe('failed');
    expect(entry.error).toMatch(/config\.json" is a symbolic link that leads outside the modules root/);
    const res = await admin(server.url, { path: 'linked-config' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('path_outside_root');
  });

  it('a link 6 levels deep that leaves the root is refused', async () => {
    cpSync(R1, join(root, 'deep'), { recursive: true });
    const nested = join(root, 'deep', 'a', 'b', 'c', 'd', 'e');
    mkdirSync(nested, { recursive: true });
    symlinkSync(join(outside, 'config.json'), join(nested, 'leak.json'));
    const res = await admin(server.url, { path: 'deep', name: 'deep' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('path_outside_root');
    expect(res.body.error.message).toContain('deep/a/b/c/d/e/leak.json');
  });

  it('a FIFO named unir.json is refused at once, five times over, and loads go on working', async () => {
    for (let i = 0; i < 5; i++) {
      const dir = join(root, `fifo-${i}`);
      cpSync(R1, dir, { recursive: true });
      rmSync(join(dir, 'unir.json'));
      execFileSync('mkfifo', [join(dir, 'unir.json')]);
    }
    const refused = await Promise.all([0, 1, 2, 3, 4].map((i) => admin(server.url, { path: `fifo-${i}` })));
    for (const r of refused) {
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(/unir\.json" is not a regular file or directory \(a FIFO\)/);
    }
    const ok = await admin(server.url, { path: 'r1', name: 'r1-again' });
    expect(ok.status).toBe(201);
  });

  it('a module whose KV cache has another layout is refused at load, not at the first request', async () => {
    const res = await admin(server.url, { path: 'staged/wrong-kv' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_model_dir');
    expect(res.body.error.message).toMatch(/test run at load.*past_key_values\.0\.key/);
  });

  it('300 admin loads while the directory flips between real and a link outside: nothing outside is ever read', async () => {
    mkdirSync(join(root, 'race'));
    // Both manifests are broken JSON, so every load ends at the manifest, and its message says where the syntax
    // fails: at position 3 (line 1 column 4) inside, at 12 outside. (Error texts never quote a file's contents.)
    writeFileSync(join(root, 'race', 'unir.json'), '{} INSIDE');
    writeFileSync(join(outside, 'unir.json'), '{}          OUTSIDE');
    const at = (position: number) => new RegExp(`syntax error at (position ${position}|line 1 column ${position + 1})\\)`);
    const swapper = startSwapper(root, outside);
    const seen = { inside: 0, refused: 0, missing: 0 };
    try {
      for (let i = 0; i < 300; i++) {
        const res = await admin(server.url, { path: 'race', name: 'race' });
        expect(res.status, JSON.stringify(res.body)).toBe(400);
        const message = res.body.error.message as string;
        expect(message).not.toMatch(at(12));
        if (at(3).test(message)) seen.inside++;
        else if (res.body.error.code === 'path_outside_root') seen.refused++;
        else seen.missing++;
      }
    } finally {
      swapper.kill('SIGKILL');
    }
    // The race ran both ways: some loads read the real directory, some met the link.
    expect(seen.inside).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });

  it('300 copies while the directory flips: every copy holds the inside files only', async () => {
    const dir = join(root, 'copy-race');
    cpSync(R1, dir, { recursive: true });
    writeFileSync(join(dir, 'marker'), 'inside');
    const away = mkdtempSync(join(tmpdir(), 'unir-chaos-away-'));
    cpSync(R1, away, { recursive: true });
    writeFileSync(join(away, 'marker'), 'outside');
    rmSync(join(root, 'race'), { recursive: true, force: true });
    rmSync(join(root, '.race-real'), { recursive: true, force: true });
    cpSync(dir, join(root, 'race'), { recursive: true });
    const swapper = startSwapper(root, away);
    let copied = 0;
    try {
      for (let i = 0; i < 300; i++) {
        const staged = await stageModule(root, join(root, 'race')).catch((err) => {
          expect(err.code).toMatch(/^(path_outside_root|invalid_model_dir)$/);
          return null;
        });
        if (!staged) continue;
        copied++;
        expect(readFileSync(join(staged.dir, 'marker'), 'utf8')).toBe('inside');
        await staged.remove();
      }
    } finally {
      swapper.kill('SIGKILL');
      rmSync(away, { recursive: true, force: true });
    }
    expect(copied).toBeGreaterThan(0);
  });

  it('no staging copy is left behind by any load above', () => {
    expect(readdirSync(staging).filter((f) => f.startsWith('unir-module-'))).toEqual([]);
  });
});

describe('--module-load-timeout', () => {
  let server: RunningServer;
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'unir-chaos-timeout-'));
    mkdirSync(join(root, 'modules'));
    cpSync(R1, join(root, 'modules', 'r1'), { recursive: true });
    server = await startTestServer(['--reasoners-dir', join(root, 'modules'), '--module-load-timeout', '0.001']);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('a load over the limit (at start-up, then through the admin API) fails with load_timeout and holds nothing', async () => {
    const atStart = (await list(server.url)).find((i) => i.name === 'r1')!;
    expect(atStart.error).toMatch(/--module-load-timeout/);
    const res = await admin(server.url, { path: 'r1' });
    expect(res.status).toBe(504);
    expect(res.body.error).toMatchObject({ code: 'load_timeout', type: 'timeout_error' });
    const entries = await list(server.url);
    expect(entries).toEqual([expect.objectContaining({ name: 'r1', state: 'failed' })]);
    expect((await postJson(`${server.url}/v1/completions`, { model: 'tiny-mha-f32+r1', prompt: 'hi', max_tokens: 2 })).body.error.code).toBe('reasoner_not_found');
  });
});
