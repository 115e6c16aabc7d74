/**
 * Writes tests/chaos/fuzz-corpus.json: malformed requests over every endpoint, replayed by
 * tests/chaos/fuzz-replay.test.ts against the fixture server (each must get a 4xx in OpenAI's shape).
 *
 *   npx tsx scripts/make-fuzz-corpus.ts        (deterministic: the same file every time)
 *
 * Field-level cases take a valid body and break one field at a time (wrong type, out of range, wrong shape),
 * each endpoint's own way; body-level cases break the JSON or the content type; URL-level cases break the path
 * and the method; raw cases break HTTP itself; WebSocket cases break the messages of /v1/stream. Malformations
 * that other issues turn into valid requests (tools, response_format; prompt lists and token-id arrays, which
 * are valid since issue 14: their malformed forms are an empty token array and a mix of forms) are left out.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FuzzCase {
  id: number;
  kind: 'http' | 'raw' | 'ws';
  note: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** The request body as sent, or null for none; for ws, the message; for raw, the bytes (latin1). */
  body: string | null;
}

const MODEL = 'tiny-mha-f32';
const cases: FuzzCase[] = [];
const add = (c: Omit<FuzzCase, 'id'>) => cases.push({ id: cases.length + 1, ...c });
const json = { 'content-type': 'application/json' };

/** Values of the wrong kind for any field. */
const ALIEN: [string, unknown][] = [
  ['a string', 'seven'],
  ['an object', { a: 1 }],
  ['an array', [1, 2]],
  ['a boolean', true],
  ['a float where an integer goes', 1.5],
  ['a huge number', 1e308],
];

function breakFields(path: string, valid: Record<string, unknown>, fields: Record<string, unknown[]>): void {
  for (const [field, values] of Object.entries(fields)) {
    for (const value of values) {
      add({ kind: 'http', note: `${path}: ${field} = ${JSON.stringify(value)}`, method: 'POST', path, headers: json, body: JSON.stringify({ ...valid, [field]: value }) });
    }
  }
}

const sampling: Record<string, unknown[]> = {
  max_tokens: [0, -1, 'ten', 2.5, 100000],
  temperature: [-0.1, 2.5, 'hot', [1]],
  top_p: [0, -1, 1.5, 'all'],
  top_k: [-2, 1.5, 'k'],
  min_p: [-0.1, 1.1],
  repetition_penalty: [0, -1, 11],
  presence_penalty: [-3, 3],
  frequency_penalty: [2.5, 'x'],
  logit_bias: [{ abc: 1 }, { '5': 101 }, { '5': 'x' }, { '999999': 1 }, [1, 2]],
  seed: [1.5, 'seed', {}],
  stop: ['', [''], ['a', 'b', 'c', 'd', 'e'], [1], { s: 1 }],
  stop_token_ids: [[-1], ['a'], [999999], Array.from({ length: 65 }, (_, i) => i)],
  min_tokens: [-1, 1.5, 1000],
  ignore_eos: ['yes', 1],
  n: [0, 17, 1.5, '2'],
  stream: ['yes', 1],
  stream_options: ['x', { include_usage: 'yes' }],
  reasoners: ['r1', [{}], [{ name: '' }], [{ name: 'nope' }], [{ name: 'r1', weight: 11 }], [{ name: 'r1', weight: 'x' }], [{ name: 'r1', extra: 1 }], [{ name: 'r1' }, { name: 'r1' }], Array.from({ length: 17 }, (_, i) => ({ name: `m${i}` }))],
  model: ['', 5, null, 'gpt-4o', `${MODEL}+`, `${MODEL}+nope`, `${MODEL}++r1`],
  user: [5, {}],
};

breakFields('/v1/completions', { model: MODEL, prompt: 'Hello world', max_tokens: 4 }, {
  ...sampling,
  prompt: ['', [], [-1], [999999], [1.5], [[]], 5, null, {}, true],
  logprobs: [-1, 21, 1.5, true],
  echo: ['yes'],
  best_of: [0, 3],
  suffix: ['tail', 5],
});
breakFields('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }, {
  ...sampling,
  messages: [[], 'hi', [{}], [{ role: 'robot', content: 'x' }], [{ role: 'user', content: 5 }], [{ role: 'user', content: [{ text: 'x' }] }], [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }], [{ role: 'user', content: [{ type: 'text', text: 5 }] }], [{ role: 5 }], [null]],
  logprobs: ['yes', 1],
  top_logprobs: [-1, 21, 5],
  max_completion_tokens: [0, 'x'],
  add_generation_prompt: ['yes'],
  echo: [1],
});
breakFields('/tokenize', { prompt: 'Hello world' }, {
  prompt: [5, null, [[1], 'a'], {}],
  model: [5, '', 'gpt-4o'],
  add_special_tokens: ['yes'],
  return_token_strs: [1],
  messages: ['hi', [{ role: 'robot' }]],
});
add({ kind: 'http', note: '/tokenize: both prompt and messages', method: 'POST', path: '/tokenize', headers: json, body: JSON.stringify({ prompt: 'a', messages: [{ role: 'user', content: 'b' }] }) });
add({ kind: 'http', note: '/tokenize: neither prompt nor messages', method: 'POST', path: '/tokenize', headers: json, body: '{}' });
breakFields('/detokenize', { tokens: [1, 2, 3] }, {
  tokens: [null, 'abc', [-1], [999999], [1.5], [[1]], {}, ['1']],
  model: [5, 'gpt-4o'],
});
add({ kind: 'http', note: '/detokenize: no tokens', method: 'POST', path: '/detokenize', headers: json, body: '{}' });
breakFields('/v1/reasoners', { path: 'r1', name: 'copy' }, {
  path: ['', '..', '../..', '/etc', '/etc/passwd', 'r1/../..', 'a\u0000b', 5, null, 'x'.repeat(5000), 'missing'],
  name: ['a+b', '', ' x', 'x'.repeat(65), 5],
  default_weight: [11, -11, 'one'],
  replace: ['yes', 1],
});
add({ kind: 'http', note: '/v1/reasoners: an existing name without replace', method: 'POST', path: '/v1/reasoners', headers: json, body: JSON.stringify({ path: 'r1' }) });

// Body-level: the JSON itself, and content types, on every POST route.
const POSTS = ['/v1/completions', '/v1/chat/completions', '/tokenize', '/detokenize', '/v1/reasoners'];
const BODIES: [string, string][] = [
  ['truncated JSON', '{"model": "tiny-mha-f32", "prompt": "hi'],
  ['trailing garbage', '{"model": "tiny-mha-f32"} xyz'],
  ['NaN literal', '{"model": "tiny-mha-f32", "temperature": NaN}'],
  ['single quotes', "{'model': 'tiny-mha-f32'}"],
  ['an array', '[1, 2, 3]'],
  ['a string', '"hello"'],
  ['a number', '42'],
  ['null', 'null'],
  ['empty object', '{}'],
  ['deeply nested', `${'['.repeat(5000)}${']'.repeat(5000)}`],
  ['invalid UTF-8 escape', '{"model": "\\ud800"}'],
  ['control characters', '{"model": "a\u0001b"}'],
];
for (const path of POSTS) {
  for (const [note, body] of BODIES) add({ kind: 'http', note: `${path}: ${note}`, method: 'POST', path, headers: json, body });
  add({ kind: 'http', note: `${path}: empty body`, method: 'POST', path, headers: json, body: '' });
  add({ kind: 'http', note: `${path}: text/plain`, method: 'POST', path, headers: { 'content-type': 'text/plain' }, body: '{"model": "tiny-mha-f32"}' });
  add({ kind: 'http', note: `${path}: form-encoded`, method: 'POST', path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'model=tiny-mha-f32' });
  add({ kind: 'http', note: `${path}: gzip that is not gzip`, method: 'POST', path, headers: { ...json, 'content-encoding': 'gzip' }, body: '{"model": "x"}' });
  add({ kind: 'http', note: `${path}: no content type`, method: 'POST', path, headers: {}, body: '{"model": "tiny-mha-f32"}' });
}
// A string and an array of ids are valid prompts; the other kinds are not.
for (const [note, body] of ALIEN.filter(([n]) => n !== 'a string' && n !== 'an array')) add({ kind: 'http', note: `/v1/completions: prompt is ${note}`, method: 'POST', path: '/v1/completions', headers: json, body: JSON.stringify({ model: MODEL, prompt: body }) });

// URL-level: paths, encodings and methods on every route.
const ROUTES: [string, string][] = [
  ['GET', '/health'], ['GET', '/ready'], ['GET', '/metrics'], ['GET', '/openapi.json'], ['GET', '/v1/models'], ['GET', '/v1/reasoners'],
  ['POST', '/v1/completions'], ['POST', '/v1/chat/completions'], ['POST', '/tokenize'], ['POST', '/detokenize'],
];
for (const [method, path] of ROUTES) {
  const wrong = method === 'GET' ? ['PUT', 'PATCH', 'DELETE'] : ['GET', 'PUT', 'PATCH'];
  for (const m of wrong) add({ kind: 'http', note: `${m} ${path}`, method: m, path, headers: {}, body: null });
  add({ kind: 'http', note: `${path} with a bad percent-encoding`, method, path: `${path}/%ff%fe`, headers: method === 'POST' ? json : {}, body: method === 'POST' ? '{}' : null });
}
for (const name of ['%ff', '%', '%zz', '%c0%af', 'x'.repeat(200), 'nope', '..%2f..%2fetc', '%00']) {
  add({ kind: 'http', note: `DELETE /v1/reasoners/${name.slice(0, 20)}`, method: 'DELETE', path: `/v1/reasoners/${name}`, headers: {}, body: null });
}
for (const path of ['/v2/completions', '/v1', '/v1/', '/V1/COMPLETIONS', '/v1/completions/x', '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/v1/stream/x', `/${'a'.repeat(3000)}`]) {
  add({ kind: 'http', note: `GET ${path.slice(0, 30)}`, method: 'GET', path, headers: {}, body: null });
}
add({ kind: 'http', note: 'GET /v1/stream without an upgrade', method: 'GET', path: '/v1/stream', headers: {}, body: null });
add({ kind: 'http', note: 'GET /v1/stream?x=%ff', method: 'GET', path: '/v1/stream?x=%ff', headers: {}, body: null });

// Raw: HTTP itself.
const RAW = [
  ['a request line that is not HTTP', 'HELLO\r\n\r\n'],
  ['an unknown HTTP version', 'GET /health HTTP/9.9\r\n\r\n'],
  ['a header without a colon', 'GET /health HTTP/1.1\r\nHost x\r\n\r\n'],
  ['headers over the size limit', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40000)}\r\n\r\n`],
  ['a negative Content-Length', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n'],
  ['two Content-Lengths', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'],
  ['Content-Length and chunked', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}'],
  ['a bad chunk size', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
  ['a NUL in the path', 'GET /he\u0000alth HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a space in the path', 'GET /v1/ models HTTP/1.1\r\nHost: x\r\n\r\n'],
];
for (const [note, body] of RAW) add({ kind: 'raw', note, body });

// WebSocket messages on /v1/stream.
const WS: [string, string][] = [
  ['not JSON', 'hello'],
  ['a JSON array', '[1,2]'],
  ['a JSON string', '"generate"'],
  ['no type', '{"prompt": "hi"}'],
  ['an unknown type', '{"type": "explode"}'],
  ['generate without an id', '{"type": "generate", "prompt": "hi"}'],
  ['generate without a prompt', '{"type": "generate", "id": 1}'],
  ['an id that is an object', '{"type": "generate", "id": {}, "prompt": "hi"}'],
  ['an empty id', '{"type": "generate", "id": "", "prompt": "hi"}'],
  ['a prompt of out-of-range ids', '{"type": "generate", "id": 2, "prompt": [999999]}'],
  ['n 17', '{"type": "generate", "id": 3, "prompt": "hi", "n": 17}'],
  ['temperature -1', '{"type": "generate", "id": 4, "prompt": "hi", "temperature": -1}'],
  ['an unknown module', '{"type": "generate", "id": 5, "prompt": "hi", "reasoners": [{"name": "nope"}]}'],
  ['an unknown model', '{"type": "generate", "id": 6, "prompt": "hi", "model": "gpt-4o"}'],
  ['echo', '{"type": "generate", "id": 7, "prompt": "hi", "echo": true}'],
  ['cancel of nothing', '{"type": "cancel", "id": 99}'],
  ['cancel without an id', '{"type": "cancel"}'],
  ['logprobs 21', '{"type": "generate", "id": 8, "prompt": "hi", "logprobs": 21}'],
  ['truncated JSON', '{"type": "generate", "id": 9, "prompt": "h'],
  ['stop of 5 strings', '{"type": "generate", "id": 10, "prompt": "hi", "stop": ["a","b","c","d","e"]}'],
];
for (const [note, body] of WS) add({ kind: 'ws', note: `ws: ${note}`, body });

const out = join(import.meta.dirname, '..', 'tests', 'chaos', 'fuzz-corpus.json');
writeFileSync(out, `${JSON.stringify(cases, null, 1)}\n`);
console.log(`${cases.length} cases written to ${out}`);
