/**
 * npm run eval: accuracy of the demo models on the held-out sets, through the HTTP API.
 *
 * Starts the real server three times on loopback: the demo base with both modules, and each module served
 * alone as a base (its own logits, no fusion). Every problem is a /v1/completions request (greedy, up to 96
 * new tokens); a completion is correct when it ended with EOS and the text after the last '=' of prompt +
 * completion, stripped, is the expected answer (the rule of demo-models/eval/README.md).
 *
 *   npm run eval [-- --limit 200] [--concurrency 16] [--json results.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parseServerOptions } from '../server/options.js';
import { startServer, type RunningServer } from '../server/start.js';
import { table } from '../bench/bench-args.js';

const { values: args } = parseArgs({
  options: {
    limit: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '16' },
    json: { type: 'string' },
    root: { type: 'string', default: 'demo-models' },
  },
});
const ROOT = args.root!;
const MAX_NEW_TOKENS = 96;
const SETS = ['add', 'sort', 'mixed'] as const;

interface Problem {
  task: string;
  prompt: string;
  answer: string;
}

function readSet(name: string): Problem[] {
  return readFileSync(join(ROOT, 'eval', `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Problem)
    .slice(0, Number(args.limit));
}

export function isCorrect(p: Problem, completion: string, finishReason: string): boolean {
  if (finishReason !== 'stop') return false;
  const text = p.prompt + completion;
  return text.slice(text.lastIndexOf('=') + 1).trim() === p.answer;
}

async function serve(model: string, extra: string[] = []): Promise<RunningServer> {
  const options = parseServerOptions(['--model', model, '--port', '0', '--max-batch', '16', '--max-queue', '256', ...extra], {});
  const server = await startServer(options, pino({ level: 'warn' }));
  await server.ready;
  return server;
}

async function accuracy(server: RunningServer, model: string, problems: Problem[]): Promise<number> {
  let next = 0;
  let correct = 0;
  const worker = async () => {
    while (next < problems.length) {
      const p = problems[next++];
      const res = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt: p.prompt, max_tokens: MAX_NEW_TOKENS, temperature: 0 }),
      });
      if (!res.ok) throw new Error(`${model}: HTTP ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { choices: { text: string; finish_reason: string }[] };
      if (isCorrect(p, body.choices[0].text, body.choices[0].finish_reason)) correct++;
    }
  };
  await Promise.all(Array.from({ length: Number(args.concurrency) }, worker));
  return (100 * correct) / problems.length;
}

const sets = Object.fromEntries(SETS.map((s) => [s, readSet(s)])) as Record<(typeof SETS)[number], Problem[]>;
const t0 = performance.now();
const fused = await serve(join(ROOT, 'base'), ['--reasoners-dir', join(ROOT, 'reasoners')]);
const baseId = fused.ctx.modelId;
const names = fused.ctx.registry.names();
if (!names.includes('add') || !names.includes('sort')) throw new Error(`demo modules missing: loaded ${names.join(', ')}`);

const rows: { label: string; scores: Record<string, number> }[] = [];
async function row(label: string, server: RunningServer, model: string) {
  const scores: Record<string, number> = {};
  for (const s of SETS) scores[s] = await accuracy(server, model, sets[s]);
  rows.push({ label, scores });
  process.stderr.write(`${label}: ${SETS.map((s) => `${s} ${scores[s].toFixed(1)}%`).join(', ')}\n`);
}

await row('base alone', fused, baseId);
for (const name of ['add', 'sort']) {
  const alone = await serve(join(ROOT, 'reasoners', name));
  await row(`${name} module alone (its own logits)`, alone, alone.ctx.modelId);
  await alone.close();
}
await row('base + add', fused, `${baseId}+add`);
await row('base + sort', fused, `${baseId}+sort`);
await row('base + add + sort', fused, `${baseId}+add+sort`);
await fused.close();

const get = (label: string, set: string) => rows.find((r) => r.label === label)!.scores[set];
console.log(`held-out problems: ${SETS.map((s) => `${s} ${sets[s].length}`).join(', ')}; greedy, through /v1/completions; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
console.log(table(['models', 'add %', 'sort %', 'mixed %'], rows.map((r) => [r.label, ...SETS.map((set) => r.scores[set].toFixed(1))])));
const gains = [
  ['base + add over base, on add', get('base + add', 'add') - get('base alone', 'add'), 40],
  ['base + sort over base, on sort', get('base + sort', 'sort') - get('base alone', 'sort'), 40],
  ['base + both over the best single pairing, on mixed', get('base + add + sort', 'mixed') - Math.max(get('base + add', 'mixed'), get('base + sort', 'mixed')), 20],
] as const;
for (const [what, points, target] of gains) console.log(`${what}: ${points >= 0 ? '+' : ''}${points.toFixed(1)} points (target ${target}): ${points >= target ? 'met' : 'NOT met'}`);
if (args.json) writeFileSync(args.json, JSON.stringify({ rows, gains }, null, 1));
