import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { REASONERS } from '../helpers/fixtures.js';
import { postJson, startTestServer } from '../helpers/server.js';

const MODEL = 'tiny-mha-f32';
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer(['--reasoners-dir', REASONERS, '--max-batch', '2']);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
});
afterAll(async () => server.close());

interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  /** `name{a="1",b="2"}` (labels sorted) → value */
  samples: Map<string, number>;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\["\\\\n])*"';
// Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client writes "Nan").
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?[Ii][Nn][Ff]|[Nn][Aa][Nn])';
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (${VALUE})(?: -?\\d+)?$`);
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/** Prometheus text format 0.0.4, strictly: every line is HELP, TYPE, a sample of a family typed before it, or empty. */
function parseExposition(text: string): Exposition {
  const out: Exposition = { types: new Map(), help: new Map(), samples: new Map() };
  const lines = text.split('\n');
  expect(lines.at(-1)).toBe('');
  for (const line of lines.slice(0, -1)) {
    let m: RegExpExecArray | null;
    if (line === '') {
      // Empty lines are allowed (and ignored) between families.
    } else if ((m = HELP_LINE.exec(line))) {
      out.help.set(m[1], m[2]);
    } else if ((m = TYPE_LINE.exec(line))) {
      expect(out.types.has(m[1]), `TYPE twice for ${m[1]}`).toBe(false);
      out.types.set(m[1], m[2]);
    } else if ((m = SAMPLE_LINE.exec(line))) {
      const name = m[1];
      const family = out.types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
      expect(out.types.has(family), `sample before its TYPE: ${line}`).toBe(true);
      const labels = m[2] ? [...m[2].matchAll(new RegExp(LABEL, 'g'))].map((l) => l[0]).sort().join(',') : '';
      const key = labels ? `${name}{${labels}}` : name;
      expect(out.samples.has(key), `duplicate sample ${key}`).toBe(false);
      out.samples.set(key, /nan/i.test(m[3]) ? Number.NaN : Number(m[3].replace(/inf/i, 'Infinity')));
    } else {
      throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    }
  }
  return out;
}

async function scrape(): Promise<Exposition> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

const value = (e: Exposition, key: string) => e.samples.get(key) ?? 0;

describe('GET /metrics', () => {
  it('is valid Prometheus text with the documented families and types', async () => {
    const e = await scrape();
    const expected: Record<string, string> = {
      unir_time_to_first_token_seconds: 'histogram',
      unir_inter_token_latency_seconds: 'histogram',
      unir_e2e_request_latency_seconds: 'histogram',
      unir_request_queue_time_seconds: 'histogram',
      unir_prompt_tokens_total: 'counter',
      unir_generation_tokens_total: 'counter',
      unir_requests_total: 'counter',
      unir_num_requests_running: 'gauge',
      unir_num_requests_waiting: 'gauge',
      unir_reasoner_requests_total: 'counter',
      unir_reasoner_events_total: 'counter',
      unir_model_load_seconds: 'gauge',
      unir_process_resident_memory_bytes: 'gauge',
      unir_nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      expect(e.types.get(name), name).toBe(type);
      expect(e.help.get(name)?.length, `HELP of ${name}`).toBeGreaterThan(0);
    }
    expect(value(e, 'unir_model_load_seconds')).toBeGreaterThan(0);
    // Histograms have cumulative buckets ending in +Inf = _count.
    const buckets = [...e.samples].filter(([k]) => k.startsWith('unir_e2e_request_latency_seconds_bucket'));
    expect(buckets.at(-1)![0]).toContain('le="+Inf"');
    const counts = buckets.map(([, v]) => v);
    expect([...counts].sort((a, b) => a - b)).toEqual(counts);
    expect(counts.at(-1)).toBe(value(e, 'unir_e2e_request_latency_seconds_count'));
  });

  it('counters and histograms move by what a request did', async () => {
    const before = await scrape();
    const res = await client.completions.create({ model: MODEL, prompt: 'Hello world', max_tokens: 7, n: 2, seed: 1, ignore_eos: true } as never) as OpenAI.Completion;
    const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, ignore_eos: true } as never) as OpenAI.Chat.Completions.ChatCompletion;
    const after = await scrape();
    const delta = (key: string) => value(after, key) - value(before, key);
    const generated = res.usage!.completion_tokens + chat.usage!.completion_tokens;
    expect(generated).toBe(17);
    expect(delta('unir_generation_tokens_total')).toBe(generated);
    // Each of the n sequences prefills its own copy of the prompt.
    expect(delta('unir_prompt_tokens_total')).toBe(2 * res.usage!.prompt_tokens + chat.usage!.prompt_tokens);
    expect(delta('unir_requests_total{endpoint="completions",finish_reason="length"}')).toBe(2);
    expect(delta('unir_requests_total{endpoint="chat_completions",finish_reason="length"}')).toBe(1);
    for (const h of ['unir_time_to_first_token_seconds', 'unir_e2e_request_latency_seconds', 'unir_request_queue_time_seconds']) {
      expect(delta(`${h}_count`), h).toBe(3);
      expect(delta(`${h}_sum`), h).toBeGreaterThan(0);
    }
    // One gap between consecutive tokens of each sequence.
    expect(delta('unir_inter_token_latency_seconds_count')).toBe(2 * 6 + 2);
  });

  it('running and waiting sequences while requests run (max-batch 2)', async () => {
    const long = postJson(`${server.url}/v1/completions`, { model: MODEL, prompt: 'a', max_tokens: 400, n: 3, ignore_eos: true });
    let seen: { running: number; waiting: number } | null = null;
    for (let i = 0; i < 200 && !seen; i++) {
      const e = await scrape();
      const running = value(e, 'unir_num_requests_running');
      const waiting = value(e, 'unir_num_requests_waiting');
      if (running === 2 && waiting === 1) seen = { running, waiting };
      else await new Promise((r) => setTimeout(r, 5));
    }
    expect(seen).toEqual({ running: 2, waiting: 1 });
    expect((await long).status).toBe(200);
    const idle = await scrape();
    expect(value(idle, 'unir_num_requests_running')).toBe(0);
    expect(value(idle, 'unir_num_requests_waiting')).toBe(0);
  });

  it('per-module request counts and module load and unload events', async () => {
    const before = await scrape();
    expect(value(before, 'unir_reasoner_events_total{event="load",reasoner="r1"}')).toBe(1);
    expect(value(before, 'unir_reasoner_events_total{event="load",reasoner="r2"}')).toBe(1);
    await client.completions.create({ model: `${MODEL}+r1`, prompt: 'Hi', max_tokens: 2 });
    await client.completions.create({ model: MODEL, prompt: 'Hi', max_tokens: 2, reasoners: [{ name: 'r1' }, { name: 'r2', weight: 0.5 }] } as never);
    server.ctx.registry.unload('r2');
    await server.ctx.registry.load(join(REASONERS, 'r2'));
    const after = await scrape();
    expect(value(after, 'unir_reasoner_requests_total{reasoner="r1"}') - value(before, 'unir_reasoner_requests_total{reasoner="r1"}')).toBe(2);
    expect(value(after, 'unir_reasoner_requests_total{reasoner="r2"}') - value(before, 'unir_reasoner_requests_total{reasoner="r2"}')).toBe(1);
    expect(value(after, 'unir_reasoner_events_total{event="unload",reasoner="r2"}')).toBe(1);
    expect(value(after, 'unir_reasoner_events_total{event="load",reasoner="r2"}')).toBe(2);
  });
});

describe('GET /health and GET /ready', () => {
  it('answer 200 once the model is loaded', async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });
});
