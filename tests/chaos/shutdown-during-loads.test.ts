import { execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../../scripts/cli-child.js';
import { MHA, REASONERS } from '../helpers/fixtures.js';

/**
 * SIGTERM while module loads are under way (five aimed at FIFOs, one real load in its worker) still drains and
 * exits 0 promptly: no load can hold the process (the FIFOs are refused at once; a load in progress is stopped).
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('SIGTERM during module loads', () => {
  it('exits 0 with FIFO loads and a real load in flight, before the drain timeout', async () => {
    const root = mkdtempSync(join(tmpdir(), 'unir-chaos-sigterm-'));
    dirs.push(root);
    cpSync(join(REASONERS, 'r1'), join(root, 'r1'), { recursive: true });
    const cli = spawnCli(['--import', 'tsx', 'server/cli.ts', '--model', MHA, '--port', '0', '--threads', '1', '--reasoners-dir', root], { cwd: ROOT });
    children.push(cli.proc);
    const url = await cli.listening;
    for (let i = 0; i < 600 && (await fetch(`${url}/ready`).catch(() => null))?.status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++) {
      cpSync(join(REASONERS, 'r1'), join(root, `fifo-${i}`), { recursive: true });
      rmSync(join(root, `fifo-${i}`, 'unir.json'));
      execFileSync('mkfifo', [join(root, `fifo-${i}`, 'unir.json')]);
    }
    const load = (body: object) => fetch(`${url}/v1/reasoners`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status, () => 0);
    const loads = [0, 1, 2, 3, 4].map((i) => load({ path: `fifo-${i}` }));
    loads.push(load({ path: 'r1', name: 'r1-copy' }));
    await new Promise((r) => setTimeout(r, 100));
    cli.proc.kill('SIGTERM');
    // A generous bound, not a speed check: the FIFOs are never written, so a load waiting on one never ends, and
    // neither would a shutdown waiting for it (under the 30 s drain timeout, which would end it otherwise).
    const exit = await Promise.race([cli.exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    const statuses = await Promise.all(loads);
    // The FIFOs were refused (400), or shutdown refused them first (503); none hung.
    for (const s of statuses.slice(0, 5)) expect([400, 503, 0]).toContain(s);
  });
});
