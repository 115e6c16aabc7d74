/**
 * The demo evaluation's client side: held-out sets, the correctness rule of demo-models/eval/README.md, the real
 * server started on loopback, and a set run through /v1/completions (greedy, up to 96 new tokens).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { parseServerOptions } from '../server/options.js';
import { startServer, type RunningServer } from '../server/start.js';

export const MAX_NEW_TOKENS = 96;
export const SETS = ['add', 'sort', 'mixed'] as const;
export type SetName = (typeof SETS)[number];

export interface Problem {
  task: string;
  prompt: string;
  answer: string;
}

export function readSet(root: string, name: string, limit: number): Problem[] {
  return readFileSync(join(root, 'eval', `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Problem)
    .slice(0, limit);
}

/** Correct iff the completion ended with EOS and the text after the last '=' of prompt + completion is the answer. */
export function isCorrect(p: Problem, completion: string, finishReason: string): boolean {
  if (finishReason !== 'stop') return false;
  const text = p.prompt + completion;
  return text.slice(text.lastIndexOf('=') + 1).trim() === p.answer;
}

export async function serve(model: string, extra: string[] = []): Promise<RunningServer> {
  const options = parseServerOptions(['--model', model, '--port', '0', '--max-batch', '16', '--max-queue', '256', ...extra], {});
  const server = await startServer(options, pino({ level: 'warn' }));
  await server.ready;
  return server;
}

/** What a set run measured: accuracy in %, tokens generated, wall seconds, and the entropy gate's counts. */
export interface SetResult {
  accuracy: number;
  completionTokens: number;
  seconds: number;
  moduleSteps: number;
  skipped: number;
}

/** A completion response as runSet reads it; `onResponse` sees the whole of it. */
export interface CompletionResponse {
  choices: { text: string; finish_reason: string; attribution?: { changed: boolean; base_entropy: number }[] }[];
  usage: { completion_tokens: number; reasoner_gate?: { module_steps: number; skipped: number } };
}

/** Runs every problem of a set with `concurrency` requests in flight; `extra` is merged into each request body. */
export async function runSet(
  server: RunningServer,
  model: string,
  problems: readonly Problem[],
  concurrency: number,
  extra: object = {},
  onResponse?: (body: CompletionResponse) => void,
): Promise<SetResult> {
  let next = 0;
  const r: SetResult = { accuracy: 0, completionTokens: 0, seconds: 0, moduleSteps: 0, skipped: 0 };
  let correct = 0;
  const worker = async () => {
    while (next < problems.length) {
      const p = problems[next++];
      const res = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt: p.prompt, max_tokens: MAX_NEW_TOKENS, temperature: 0, ...extra }),
      });
      if (!res.ok) throw new Error(`${model}: HTTP ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as CompletionResponse;
      onResponse?.(body);
      if (isCorrect(p, body.choices[0].text, body.choices[0].finish_reason)) correct++;
      r.completionTokens += body.usage.completion_tokens;
      r.moduleSteps += body.usage.reasoner_gate?.module_steps ?? 0;
      r.skipped += body.usage.reasoner_gate?.skipped ?? 0;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, problems.length) }, worker));
  r.seconds = (performance.now() - t0) / 1000;
  r.accuracy = (100 * correct) / problems.length;
  return r;
}
