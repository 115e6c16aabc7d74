import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { MHA, references, servedText } from '../helpers/fixtures.js';
import { parseSse, postJson, startTestServer } from '../helpers/server.js';

/**
 * Logprobs describe exactly the returned text: one entry per token whose text is in the reply, so the entries'
 * bytes spell the reply. Not EOS or a stop token, not the tokens of a matched stop string, not a special token
 * the text skips; plain and streamed alike.
 */
const MODEL = 'tiny-mha-f32';
let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server.close());

const fox = references.models[MODEL][1];
const { specials } = references.tokenizer;
const EOS = specials['<|endoftext|>'];
const IM_START = specials['<|im_start|>'];
/** The text a list of token bytes decodes to, invalid sequences as U+FFFD: what the server's detokenizer makes of them. */
const spell = (bytes: number[]) => new TextDecoder().decode(Uint8Array.from(bytes));

interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}
interface ChatEntry {
  token: string;
  bytes: number[];
  logprob: number;
}

/** The plain and the streamed completion of one request: text and logprobs (the stream's chunks joined). */
async function completion(body: Record<string, unknown>): Promise<{ text: string; logprobs: CompletionLogprobs }[]> {
  const req = { model: MODEL, prompt: fox.prompt, temperature: 0, logprobs: 2, ...body };
  const plain = await postJson(`${server.url}/v1/completions`, req);
  expect(plain.status).toBe(200);
  const stream = await postJson(`${server.url}/v1/completions`, { ...req, stream: true });
  const joined = { text: '', logprobs: { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] } as CompletionLogprobs };
  for (const frame of parseSse(stream.body as string).slice(0, -1) as { choices: { text: string; logprobs: CompletionLogprobs | null }[] }[]) {
    const c = frame.choices[0];
    joined.text += c.text;
    if (!c.logprobs) continue;
    for (const k of ['tokens', 'token_logprobs', 'top_logprobs', 'text_offset'] as const) (joined.logprobs[k] as unknown[]).push(...c.logprobs[k]);
  }
  return [plain.body.choices[0], joined];
}

async function chat(body: Record<string, unknown>): Promise<{ content: string; entries: ChatEntry[] }[]> {
  const req = { model: MODEL, messages: [{ role: 'user', content: fox.prompt }], temperature: 0, logprobs: true, top_logprobs: 1, ...body };
  const plain = await postJson(`${server.url}/v1/chat/completions`, req);
  expect(plain.status).toBe(200);
  const stream = await postJson(`${server.url}/v1/chat/completions`, { ...req, stream: true });
  let content = '';
  const entries: ChatEntry[] = [];
  for (const frame of parseSse(stream.body as string).slice(0, -1) as { choices: { delta: { content?: string }; logprobs: { content: ChatEntry[] } | null }[] }[]) {
    content += frame.choices[0].delta.content ?? '';
    entries.push(...(frame.choices[0].logprobs?.content ?? []));
  }
  return [{ content: plain.body.choices[0].message.content, entries: plain.body.choices[0].logprobs.content }, { content, entries }];
}

/** Completions: the tokens join to the text and each offset is where its token starts. */
function expectSpells(r: { text: string; logprobs: CompletionLogprobs }) {
  expect(r.logprobs.tokens.join('')).toBe(r.text);
  let at = 0;
  r.logprobs.tokens.forEach((t, i) => {
    expect(r.logprobs.text_offset[i]).toBe(at);
    at += t.length;
  });
  expect(r.logprobs.token_logprobs).toHaveLength(r.logprobs.tokens.length);
  expect(r.logprobs.top_logprobs).toHaveLength(r.logprobs.tokens.length);
}

/** Chat: the entries' bytes decode to the content; their `token` texts join to it too unless a character is split (U+FFFD). */
function expectBytesSpell(r: { content: string; entries: ChatEntry[] }, tokensJoin = true) {
  expect(spell(r.entries.flatMap((e) => e.bytes))).toBe(r.content);
  if (tokensJoin) expect(r.entries.map((e) => e.token).join('')).toBe(r.content);
}

/** A stop string starting on the second character of a multi-character token k and running into token k + 1. */
function straddlingStop(pieces: string[]): { stop: string; kept: string[] } {
  const text = pieces.join('');
  for (let k = 0; k < pieces.length - 1; k++) {
    if (pieces[k].length < 2) continue;
    const stop = pieces[k].slice(1) + pieces[k + 1];
    const kept = [...pieces.slice(0, k), pieces[k][0]];
    if (text.indexOf(stop) === kept.join('').length) return { stop, kept };
  }
  throw new Error(`no multi-character token to split in ${JSON.stringify(pieces)}`);
}

describe('logprobs cover exactly the returned text', () => {
  it('not the EOS token that ends the choice (completions and chat, plain and streamed)', async () => {
    // A bias forces EOS once min_tokens allow it: 3 tokens, then EOS.
    const force = { logit_bias: { [EOS]: 100 }, min_tokens: 3, max_tokens: 8 };
    for (const r of await completion(force)) {
      expect(r.logprobs.tokens).toHaveLength(3);
      expectSpells(r);
    }
    for (const r of await chat(force)) {
      expect(r.entries).toHaveLength(3);
      expectBytesSpell(r);
    }
  });

  it('not a stop token id', async () => {
    const stopAt = fox.greedy_ids[4];
    const firstAt = fox.greedy_ids.indexOf(stopAt);
    for (const r of await completion({ stop_token_ids: [stopAt], max_tokens: 8, ignore_eos: true })) {
      expect(r.text).toBe(servedText(fox.greedy_ids.slice(0, firstAt)));
      expect(r.logprobs.tokens).toHaveLength(firstAt);
      expectSpells(r);
    }
  });

  it('not the tokens of a matched stop string; a token the stop string starts inside keeps only its returned part', async () => {
    const free = { max_tokens: 8, ignore_eos: true };
    const [plain] = await completion(free);
    const { stop, kept } = straddlingStop(plain.logprobs.tokens);
    for (const r of await completion({ ...free, stop: [stop] })) {
      expect(r.text).toBe(kept.join(''));
      expect(r.logprobs.tokens).toEqual(kept);
      expectSpells(r);
    }
    const [chatPlain] = await chat(free);
    const chatStop = straddlingStop(chatPlain.entries.map((e) => e.token));
    for (const r of await chat({ ...free, stop: [chatStop.stop] })) {
      expect(r.content).toBe(chatStop.kept.join(''));
      expectBytesSpell(r);
    }
  });

  it('not a special token that the text skips', async () => {
    // Greedy with a bias: every token is <|im_start|>, a special token the returned text leaves out.
    for (const r of await completion({ logit_bias: { [IM_START]: 100 }, max_tokens: 3, ignore_eos: true })) {
      expect(r.text).toBe('');
      expect(r.logprobs.tokens).toEqual([]);
    }
    for (const r of await chat({ logit_bias: { [IM_START]: 100 }, max_tokens: 3 })) {
      expect(r.content).toBe('');
      expect(r.entries).toEqual([]);
    }
  });

  it('every token at max_tokens, with text held back by a possible stop string released at the end', async () => {
    const free = { max_tokens: 8, ignore_eos: true };
    const [plain] = await completion(free);
    // A stop string whose first character ends the reply but which never completes: its prefix is held, then returned.
    const stop = plain.text.at(-1)! + '\u0001';
    for (const r of await completion({ ...free, stop: [stop] })) {
      expect(r.text).toBe(plain.text);
      expect(r.logprobs.tokens).toEqual(plain.logprobs.tokens);
      expect(r.logprobs.tokens).toHaveLength(8);
      expectSpells(r);
    }
  });

  it('a character split across tokens: the completion tokens join to the text (also streamed and on the WebSocket), chat bytes spell it', async () => {
    // Byte-level pieces of "é" (0xC3 0xA9); sampled with a bias, they make both "é" and lone bytes (U+FFFD).
    const { vocab } = JSON.parse(readFileSync(join(MHA, 'tokenizer.json'), 'utf8')).model as { vocab: Record<string, number> };
    const bytes = { logit_bias: { [vocab['Ã']]: 100, [vocab['©']]: 100 }, temperature: 1, max_tokens: 4, ignore_eos: true };
    const texts: string[] = [];
    for (const seed of [0, 1, 2]) {
      for (const r of await completion({ ...bytes, seed })) {
        expectSpells(r);
        texts.push(r.text);
      }
      for (const r of await chat({ ...bytes, seed })) expectBytesSpell(r, false);
    }
    expect(texts.some((t) => t.includes('é'))).toBe(true);
    expect(texts.some((t) => t.includes('\uFFFD'))).toBe(true);
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/stream`);
    await new Promise((resolve) => ws.once('open', resolve));
    let text = '';
    let spelled = '';
    await new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        const m = JSON.parse(String(data));
        text += m.text ?? '';
        spelled += (m.logprobs ?? []).map((e: { token: string }) => e.token).join('');
        if (m.type !== 'token') resolve();
      });
      ws.send(JSON.stringify({ type: 'generate', id: 'w', prompt: fox.prompt, logprobs: 1, seed: 0, ...bytes }));
    });
    ws.close();
    expect(text).toMatch(/\uFFFD|é/);
    expect(spelled).toBe(text);
  });
});
