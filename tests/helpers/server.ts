import pino from 'pino';
import { parseServerOptions } from '../../server/options.js';
import { startServer, type RunningServer } from '../../server/start.js';
import { MHA } from './fixtures.js';

/**
 * The real server on a free loopback port, quiet, with the fixture base unless told otherwise. With `logs`, its
 * log records (info and above) are collected there instead.
 */
export async function startTestServer(args: string[] = [], opts: { logs?: Record<string, unknown>[] } = {}): Promise<RunningServer> {
  const hasModel = args.includes('--model');
  const options = parseServerOptions([...(hasModel ? [] : ['--model', MHA]), '--port', '0', '--threads', '1', ...args], {});
  const logs = opts.logs;
  const logger = logs
    ? pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) })
    : pino({ level: process.env.UNIR_TEST_LOG ?? 'silent' });
  const server = await startServer(options, logger);
  try {
    await server.ready;
  } catch (err) {
    await server.close();
    throw err;
  }
  return server;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (SSE or text): the raw text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Parses an SSE body into its data payloads (JSON objects, and the final '[DONE]'). */
export function parseSse(text: string): unknown[] {
  return text
    .split('\n\n')
    .map((frame) => frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'))
    .filter((d) => d.length > 0)
    .map((d) => (d === '[DONE]' ? d : JSON.parse(d)));
}

/** The line a parsed log entry of startLoggedServer was parsed from (JSON.parse keeps the last of duplicate keys). */
export const RAW_LINE = Symbol('raw log line');

/** startTestServer with its log lines kept (pino's JSON, parsed; the text under RAW_LINE), at info level. */
export async function startLoggedServer(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ server: RunningServer; logs: Record<string, any>[] }> {
  const logs: Record<string, any>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push({ ...JSON.parse(line), [RAW_LINE]: line }) });
  const options = parseServerOptions(['--model', MHA, '--port', '0', '--threads', '1', ...args], env);
  const server = await startServer(options, logger);
  await server.ready;
  return { server, logs };
}
