/**
 * Load run on loopback: the real CLI as a child process (so the RSS measured is the server's alone, engine
 * worker included), driven by the official openai client: 2,000 requests at concurrency 32, a mix of
 * completions and chat, plain and streaming, short max_tokens. Prints errors, total time, requests/s, and the
 * server's RSS (/proc/<pid>/status VmRSS) after the first 200 requests and at the end, with their ratio.
 *
 *   npm run build && npx tsx bench/load-run.ts [--requests 2000] [--concurrency 32] [--model DIR] [-- extra server flags]
 *
 * Exits 1 when a request failed or the end RSS is more than 10% above the RSS after 200 requests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { spawnCli } from '../scripts/cli-child.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '200' },
    model: { type: 'string', default: join(ROOT, 'tests', 'fixtures', 'tiny-mha-f32') },
  },
  allowPositionals: true,
});
const TOTAL = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/** The server's main-thread V8 heap (used / total) from its own /metrics, to tell heap growth from the rest. */
async function heapOf(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return `V8 heap used ${mib(get('unir_nodejs_heap_size_used_bytes'))} of ${mib(get('unir_nodejs_heap_size_total_bytes'))}`;
}

/**
 * Starts the built server (`npm run build` first: production runs dist/, and tsx's transpiler would add its own
 * memory to the RSS measured) and resolves with its url once /ready answers 200.
 */
async function startServer(): Promise<{ pid: number; url: string; stop: () => Promise<number | null> }> {
  if (!existsSync(join(ROOT, 'dist', 'server', 'cli.js'))) throw new Error('dist/server/cli.js is missing: run `npm run build` first');
  const cli = spawnCli(['dist/server/cli.js', '--model', values.model!, '--port', '0', ...positionals], {
    cwd: ROOT,
    onLine: (line, entry) => {
      if (!entry || (entry.level ?? 0) >= 50) process.stderr.write(`server: ${line}\n`);
    },
  });
  const url = await cli.listening;
  for (;;) {
    const res = await fetch(`${url}/ready`).catch(() => null);
    if (res?.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: cli.proc.pid!,
    url,
    stop: async () => {
      cli.proc.kill('SIGTERM');
      return (await cli.exited).code;
    },
  };
}

type Kind = 'completion' | 'completion-stream' | 'chat' | 'chat-stream';
const KINDS: Kind[] = ['completion', 'chat', 'completion-stream', 'chat-stream'];

/** One request of the mix; returns the completion tokens, throws on any failure. */
async function one(client: OpenAI, model: string, i: number): Promise<number> {
  const kind = KINDS[i % KINDS.length];
  const max_tokens = 4 + (i % 13);
  const common = { model, max_tokens, temperature: 0.8, seed: i, ignore_eos: true } as Record<string, unknown>;
  const prompt = `request ${i}: once upon a time`;
  const messages = [{ role: 'user' as const, content: `request ${i}: tell a story` }];
  switch (kind) {
    case 'completion': {
      const r = (await client.completions.create({ ...common, prompt } as never)) as OpenAI.Completion;
      if (r.choices[0].finish_reason !== 'length') throw new Error(`finish_reason ${r.choices[0].finish_reason}`);
      return r.usage!.completion_tokens;
    }
    case 'chat': {
      const r = (await client.chat.completions.create({ ...common, messages } as never)) as OpenAI.Chat.Completions.ChatCompletion;
      if (r.choices[0].finish_reason !== 'length') throw new Error(`finish_reason ${r.choices[0].finish_reason}`);
      return r.usage!.completion_tokens;
    }
    case 'completion-stream': {
      const s = await client.completions.create({ ...common, prompt, stream: true, stream_options: { include_usage: true } } as never);
      let usage = 0;
      let finish: string | null = null;
      for await (const c of s as unknown as AsyncIterable<OpenAI.Completion>) {
        if (c.usage) usage = c.usage.completion_tokens;
        for (const ch of c.choices) finish = ch.finish_reason ?? finish;
      }
      if (finish !== 'length') throw new Error(`stream finish_reason ${finish}`);
      return usage;
    }
    case 'chat-stream': {
      const s = await client.chat.completions.create({ ...common, messages, stream: true, stream_options: { include_usage: true } } as never);
      let usage = 0;
      let finish: string | null = null;
      for await (const c of s as unknown as AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
        if (c.usage) usage = c.usage.completion_tokens;
        for (const ch of c.choices) finish = ch.finish_reason ?? finish;
      }
      if (finish !== 'length') throw new Error(`stream finish_reason ${finish}`);
      return usage;
    }
  }
}

async function main(): Promise<void> {
  const server = await startServer();
  const model = ((await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string }[] }).data[0].id;
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
  console.log(`server pid ${server.pid} at ${server.url} (child process: node dist/server/cli.js), model ${model}`);
  console.log(`${TOTAL} requests, concurrency ${CONCURRENCY}, mix: ${KINDS.join(', ')}; RSS after ${WARMUP} requests and at the end`);
  const rssStart = rssBytes(server.pid);

  let next = 0;
  let done = 0;
  let errors = 0;
  let tokens = 0;
  let rssWarm: number | null = null;
  let heapWarm: Promise<string> | null = null;
  let peak = rssStart;
  const firstErrors: string[] = [];
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(server.pid))), 100);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < TOTAL) {
        const i = next++;
        try {
          const generated = await one(client, model, i);
          tokens += generated;
        } catch (err) {
          errors++;
          if (firstErrors.length < 5) firstErrors.push(`#${i}: ${(err as Error).message}`);
        }
        if (++done === WARMUP) {
          rssWarm = rssBytes(server.pid);
          heapWarm = heapOf(server.url);
        }
        if (process.env.LOAD_TRACE && done % 500 === 0) console.log(`  after ${done}: RSS ${mib(rssBytes(server.pid))}`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const rssEnd = rssBytes(server.pid);
  peak = Math.max(peak, rssEnd);
  const heapEnd = await heapOf(server.url);
  const exitCode = await server.stop();

  const ratio = rssEnd / (rssWarm ?? rssEnd);
  console.log(`errors:              ${errors}${firstErrors.length ? ` (${firstErrors.join('; ')})` : ''}`);
  console.log(`total time:          ${seconds.toFixed(2)} s`);
  console.log(`requests/s:          ${(TOTAL / seconds).toFixed(1)}`);
  console.log(`generated tokens/s:  ${(tokens / seconds).toFixed(0)} (${tokens} tokens)`);
  console.log(`RSS at start:        ${mib(rssStart)}`);
  console.log(`RSS after ${String(WARMUP).padEnd(5)}     ${mib(rssWarm ?? Number.NaN)} (${heapWarm ? await heapWarm : '-'})`);
  console.log(`RSS at the end:      ${mib(rssEnd)} (${heapEnd}; peak RSS ${mib(peak)})`);
  console.log(`end / after ${WARMUP}:     ${ratio.toFixed(3)} (limit 1.10)`);
  console.log(`server exit code:    ${exitCode} (after SIGTERM)`);
  const ok = errors === 0 && ratio <= 1.1 && exitCode === 0;
  console.log(ok ? 'PASS' : 'FAIL');
  process.exit(ok ? 0 : 1);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
