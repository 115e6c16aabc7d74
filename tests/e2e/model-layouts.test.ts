import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { MHA, REASONERS, references, servedText } from '../helpers/fixtures.js';
import { variantsDir } from '../helpers/layouts.js';
import { postJson, startTestServer } from '../helpers/server.js';

/** The layouts people download, served: a chosen ONNX variant for the base and for modules, and ids without a row. */
const temps: string[] = [];
const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'unir-layouts-'));
  temps.push(dir);
  return dir;
}

async function start(args: string[]): Promise<{ server: RunningServer; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const server = await startTestServer(args, { logs });
  servers.push(server);
  return { server, logs };
}

const greedy = { temperature: 0, ignore_eos: true };

describe('--dtype and --onnx-file', () => {
  it('a directory holding only onnx/model_q4f16.onnx and onnx/model_fp16.onnx serves with --dtype fp16; the ready log names the file', async () => {
    const dir = variantsDir();
    temps.push(join(dir, '..'));
    // A module checks its tokenizer against the base's files: the base's several variants must not stop it.
    const { specials } = references.tokenizer;
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [specials['<|endoftext|>'], specials['<|im_end|>']] }));
    const { server, logs } = await start(['--model', dir, '--dtype', 'fp16', '--reasoner', join(REASONERS, 'r1')]);
    const ready = logs.find((l) => l.msg === 'ready')!;
    expect(logs.filter((l) => l.level === 50).map((l) => l.err ?? l.msg)).toEqual([]);
    expect(ready.reasoners).toEqual(['r1']);
    expect(ready.onnx).toEqual({
      file: join('onnx', 'model_fp16.onnx'),
      bytes: statSync(join(dir, 'onnx', 'model_fp16.onnx')).size,
      external_data: [{ file: 'model.onnx_data', bytes: statSync(join(dir, 'onnx', 'model.onnx_data')).size }],
      contrib_operators: [],
      kv_alignment: 'right',
    });
    for (const ref of references.models['tiny-gqa-f16'].slice(0, 2)) {
      const res = await postJson(`${server.url}/v1/completions`, { model: 'tiny-gqa-f16', prompt: ref.prompt, max_tokens: ref.greedy_ids.length, ...greedy });
      expect(res.body.choices[0].text).toBe(servedText(ref.greedy_ids));
    }
  });

  it('without a choice, the start-up error lists the variants and names --dtype', async () => {
    const dir = variantsDir();
    temps.push(join(dir, '..'));
    await expect(startTestServer(['--model', dir])).rejects.toThrow(/several ONNX variants.*fp16.*q4f16.*--dtype/);
  });
});

describe('a module\'s ONNX variant: "dtype" / "onnx_file" in unir.json or the admin API', () => {
  it('loads the variant named and fuses it as the reference says; a file outside the module is refused', async () => {
    const root = temp();
    const int8 = join(root, 'r1-int8');
    cpSync(join(REASONERS, 'r1'), int8, { recursive: true });
    mkdirSync(join(int8, 'onnx'));
    renameSync(join(int8, 'model.onnx'), join(int8, 'onnx', 'model_int8.onnx'));
    writeFileSync(join(int8, 'unir.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(int8, 'unir.json'), 'utf8')), dtype: 'int8' }));
    const byFile = join(root, 'r1-file');
    cpSync(join(REASONERS, 'r1'), byFile, { recursive: true });
    mkdirSync(join(byFile, 'weights'));
    renameSync(join(byFile, 'model.onnx'), join(byFile, 'weights', 'r1.onnx'));

    const { server, logs } = await start(['--reasoners-dir', root]);
    const loaded = logs.find((l) => l.msg === 'reasoning module loaded' && l.reasoner === 'r1')!;
    expect(loaded.onnx).toMatchObject({ file: join('onnx', 'model_int8.onnx'), external_data: [] });
    const admin = (body: unknown) => postJson(`${server.url}/v1/reasoners`, body);
    const res = await admin({ path: 'r1-file', name: 'r1f', onnx_file: 'weights/r1.onnx' });
    expect(res.status).toBe(201);
    expect(res.body.onnx.file).toBe(join('weights', 'r1.onnx'));
    const escape = await admin({ path: 'r1-file', name: 'r1g', onnx_file: '../r1-int8/onnx/model_int8.onnx' });
    expect(escape.status).toBe(400);
    expect(escape.body.error.message).toMatch(/leaves the model directory/);
    expect((await admin({ path: 'r1-file', name: 'r1h', dtype: 'q4' })).body.error.message).toMatch(/"dtype" q4: there is no model_q4\.onnx/);
    expect((await admin({ path: 'r1-file', name: 'r1i', dtype: 'FP16' })).body.error.message).toMatch(/'dtype' must be one of "fp32", "fp16", "q4"/);

    const ref = references.fused.r1[1];
    for (const model of ['tiny-mha-f32+r1', 'tiny-mha-f32+r1f']) {
      const out = await postJson(`${server.url}/v1/completions`, { model, prompt: ref.prompt, max_tokens: ref.greedy_ids.length, ...greedy });
      expect(out.body.choices[0].text).toBe(servedText(ref.greedy_ids));
    }
  });
});

describe('token ids the tokenizer has and the model has no logits row for (Gemma 3: id 262144 of 262144 rows)', () => {
  it('are named in a warning at load and refused per request with 400, not a 500 from ONNX Runtime', async () => {
    const dir = join(temp(), 'tiny-mha-f32');
    cpSync(MHA, dir, { recursive: true });
    const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    tok.added_tokens.push({ id: 307, content: '<image_soft_token>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
    const { server, logs } = await start(['--model', dir]);
    const warning = logs.find((l) => typeof l.msg === 'string' && /at or past the model's 307 logits rows/.test(l.msg as string))!;
    expect(warning.tokens).toEqual([{ id: 307, token: '<image_soft_token>' }]);

    const completion = await postJson(`${server.url}/v1/completions`, { model: 'tiny-mha-f32', prompt: 'look: <image_soft_token>', max_tokens: 2 });
    expect(completion.status).toBe(400);
    expect(completion.body.error).toMatchObject({ param: 'prompt', code: 'invalid_request' });
    expect(completion.body.error.message).toMatch(/"<image_soft_token>" \(id 307\).*307 rows/);
    const chat = await postJson(`${server.url}/v1/chat/completions`, { model: 'tiny-mha-f32', messages: [{ role: 'user', content: '<image_soft_token>' }], max_tokens: 2 });
    expect(chat.status).toBe(400);
    expect(chat.body.error.param).toBe('messages');
    const ok = await postJson(`${server.url}/v1/completions`, { model: 'tiny-mha-f32', prompt: 'look', max_tokens: 2 });
    expect(ok.status).toBe(200);
  });
});
