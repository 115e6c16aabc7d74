/**
 * /health latency while heavy requests arrive (issue 12: under 100 ms while a 4 MB prompt is refused and while a
 * 2,000-token prompt is tokenized) and while a full batch of long generations runs. The built server runs as a child process: on the fixture base (512 tokens of
 * context, default body limit) for the 4 MB prompts, on a copy of it with a 2,000,000-token context for the
 * tokenizing loads. A probe (a process of its own) asks /health every 10 ms while each load runs; the script prints the probe's p50, p99
 * and max per load, for --text-workers 2 (the default) and 0 (everything on the event loop), in alternated rounds.
 *
 *   npm run build && npx tsx bench/health-latency.ts [--rounds 3]
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnCli } from '../scripts/cli-child.js';
import { benchArgs, median, percentile, table } from './bench-args.js';

const args = benchArgs({ rounds: { type: 'string', default: '3' } });
const ROOT = resolve(import.meta.dirname, '..');
const TEXT = 'the quick brown fox jumps over the lazy dog. ';
const model = mkdtempSync(join(tmpdir(), 'unir-health-bench-'));
cpSync(join(ROOT, 'tests', 'fixtures', 'tiny-mha-f32'), model, { recursive: true });
const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
writeFileSync(join(model, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 2_000_000 }));
const SHORT = join(ROOT, 'tests', 'fixtures', 'tiny-mha-f32');

async function start(textWorkers: number, dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const cli = spawnCli(['dist/server/cli.js', '--model', dir, '--served-model-name', 'm', '--port', '0', '--threads', '1', '--text-workers', String(textWorkers)], { cwd: ROOT });
  const url = await cli.listening;
  while ((await fetch(`${url}/ready`).catch(() => null))?.status !== 200) await new Promise((r) => setTimeout(r, 50));
  return { url, stop: async () => void (cli.proc.kill('SIGKILL'), await cli.exited) };
}

/**
 * /health round trips, every 10 ms, while `load` runs. The probe is a process of its own: in this one, sending
 * megabytes of body would delay the probe, not the server.
 */
async function probe(url: string, load: () => Promise<unknown>): Promise<number[]> {
  const script = `
    const times = []; let done = false;
    process.stdin.on('data', () => (done = true));
    (async () => {
      // The first request (connecting, a fresh process's first fetch) is not counted against the load.
      await fetch(process.argv[1] + '/health');
      process.stdout.write('ready\\n');
      while (!done) {
        const t0 = performance.now();
        await fetch(process.argv[1] + '/health');
        times.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 10));
      }
      process.stdout.write(JSON.stringify(times));
    })();`;
  const child = spawn(process.execPath, ['-e', script, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const ready = new Promise<void>((resolve) => child.stdout.on('data', (d) => ((out += d), out.startsWith('ready\n') && resolve())));
  const exited = new Promise((r) => child.on('exit', r));
  await ready;
  await load();
  child.stdin.end('stop');
  await exited;
  return JSON.parse(out.slice('ready\n'.length)) as number[];
}

// Bodies are serialized before the probe starts: serializing megabytes here would delay the probe, not the server.
// A body over the limit is answered (413) and the connection closed while the client still writes: EPIPE here.
const post = (url: string, path: string, body: string) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text(), () => 'refused');
const fourMb = JSON.stringify({ model: 'm', prompt: TEXT.repeat(Math.ceil(4_000_000 / TEXT.length)) });
// 9,000 characters: about 2,000 tokens of the fixture tokenizer.
const twoThousandTokens = JSON.stringify({ model: 'm', prompt: TEXT.repeat(200), max_tokens: 1 });
const longTokenize = JSON.stringify({ prompt: TEXT.repeat(Math.ceil(600_000 / TEXT.length)) });
// A full batch of long generations: 4 requests x n 4 x 500 tokens (once a timed test in tests/e2e/completions.test.ts).
const longGeneration = JSON.stringify({ model: 'm', prompt: 'a', max_tokens: 500, ignore_eos: true, n: 4 });
const loads: [string, string, (url: string) => Promise<unknown>][] = [
  ['5 waves of 4 x 4 MB prompt (512-token context: refused as it arrives)', SHORT, async (url) => {
    for (let wave = 0; wave < 5; wave++) await Promise.all(Array.from({ length: 4 }, () => post(url, '/v1/completions', fourMb)));
  }],
  ['20 x 2,000-token prompt (tokenized, 1 token generated)', model, (url) => Promise.all(Array.from({ length: 20 }, () => post(url, '/v1/completions', twoThousandTokens)))],
  ['/tokenize of 600,000 characters', model, (url) => post(url, '/tokenize', longTokenize)],
  ['4 x n 4 x 500 tokens generated (a full batch of 16)', SHORT, (url) => Promise.all(Array.from({ length: 4 }, () => post(url, '/v1/completions', longGeneration)))],
];

const results = new Map<string, number[]>();
for (let round = 0; round < Number(args.rounds); round++) {
  for (const workers of round % 2 === 0 ? [2, 0] : [0, 2]) {
    for (const [name, dir, load] of loads) {
      const server = await start(workers, dir);
      const key = `${name}|${workers}`;
      results.set(key, [...(results.get(key) ?? []), ...(await probe(server.url, () => load(server.url)))]);
      await server.stop();
    }
  }
}
rmSync(model, { recursive: true, force: true });
console.log(`/health round trips every 10 ms during each load, ${args.rounds} alternated rounds per setting`);
console.log(table(
  ['load', 'text workers', 'probes', 'p50 ms', 'p99 ms', 'max ms'],
  [...results.entries()].map(([key, t]) => {
    const [name, workers] = key.split('|');
    return [name, workers, t.length, median(t).toFixed(1), percentile(t, 99).toFixed(1), Math.max(...t).toFixed(1)];
  }),
));
