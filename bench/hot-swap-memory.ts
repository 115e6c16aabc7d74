/**
 * Memory over hot swaps under load: the built server (a child process, so the RSS is the server's alone) with the
 * demo base and one module, 4 clients sending completions that use the module without pause, while the module is
 * replaced through the admin API (same name, `replace: true`) 50 times. Prints the server's RSS after the first
 * 5 replacements and after all of them, their ratio, and the failed requests. The goal (issue 12): within 1.25x.
 *
 *   npm run build && npx tsx bench/hot-swap-memory.ts [--swaps 50] [--clients 4] [--model DIR] [--module DIR]
 *
 * Server settings go through its environment variables (UNIR_MODULE_THREADS=2 npx tsx bench/...).
 *
 * Exits 1 when a request failed or the ratio is over 1.25.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { spawnCli } from '../scripts/cli-child.js';
import { benchArgs, DEMO_BASE, DEMO_MODULES } from './bench-args.js';

const args = benchArgs({
  swaps: { type: 'string', default: '50' },
  clients: { type: 'string', default: '4' },
  model: { type: 'string', default: DEMO_BASE },
  module: { type: 'string', default: DEMO_MODULES[0] },
});
const ROOT = resolve(import.meta.dirname, '..');
const SWAPS = Number(args.swaps);
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

if (!existsSync(join(ROOT, 'dist', 'server', 'cli.js'))) throw new Error('dist/server/cli.js is missing: run `npm run build` first');
const root = mkdtempSync(join(tmpdir(), 'unir-swap-bench-'));
cpSync(resolve(args.module!), join(root, 'module'), { recursive: true });
const cli = spawnCli(['dist/server/cli.js', '--model', resolve(args.model!), '--port', '0', '--threads', '1', '--reasoners-dir', root], {
  cwd: ROOT,
  onLine: (line, entry) => {
    if (!entry || (entry.level ?? 0) >= 50) process.stderr.write(`server: ${line}\n`);
  },
});
const url = await cli.listening;
while ((await fetch(`${url}/ready`).catch(() => null))?.status !== 200) await new Promise((r) => setTimeout(r, 50));
const pid = cli.proc.pid!;
const modelId = basename(resolve(args.model!));
const name = (await (await fetch(`${url}/v1/reasoners`)).json() as { data: { name: string }[] }).data[0].name;

let stop = false;
let ok = 0;
let failed = 0;
async function client(): Promise<void> {
  while (!stop) {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: `${modelId}+${name}`, prompt: 'add 4821+937=', max_tokens: 32, temperature: 0 }),
    });
    if (res.status === 200) ok++;
    else {
      failed++;
      process.stderr.write(`request failed: ${res.status} ${await res.text()}\n`);
    }
    await res.arrayBuffer().catch(() => undefined);
  }
}
const clients = Array.from({ length: Number(args.clients) }, () => client());

const threads = () => readdirSync(`/proc/${pid}/task`).length;
const samples: { swaps: number; rss: number; threads: number }[] = [{ swaps: 0, rss: rssBytes(pid), threads: threads() }];
for (let i = 1; i <= SWAPS; i++) {
  const res = await fetch(`${url}/v1/reasoners`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: 'module', replace: true }) });
  if (res.status !== 200) throw new Error(`replacement ${i} failed: ${res.status} ${await res.text()}`);
  // Let the old version drain and its worker go before sampling.
  await new Promise((r) => setTimeout(r, 200));
  if (i === 5 || i % 10 === 0) samples.push({ swaps: i, rss: rssBytes(pid), threads: threads() });
}
stop = true;
await Promise.all(clients);
await new Promise((r) => setTimeout(r, 1000));
samples.push({ swaps: SWAPS, rss: rssBytes(pid), threads: threads() });
cli.proc.kill('SIGTERM');
await cli.exited;
rmSync(root, { recursive: true, force: true });

const after5 = samples.find((s) => s.swaps === 5)!.rss;
const end = samples[samples.length - 1].rss;
console.log(`hot swaps under load: ${SWAPS} replacements of ${name}, ${args.clients} clients, ${ok} requests ok, ${failed} failed`);
for (const s of samples) console.log(`  RSS after ${String(s.swaps).padStart(2)} replacements: ${mib(s.rss)} (${s.threads} threads)`);
console.log(`RSS after ${SWAPS} / after 5: ${(end / after5).toFixed(2)} (goal: at most 1.25)`);
process.exit(failed > 0 || end / after5 > 1.25 ? 1 : 0);
