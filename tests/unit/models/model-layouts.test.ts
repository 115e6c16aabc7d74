import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UnirError } from '../../../common/errors.js';
import { loadDecoder } from '../../../models/load-decoder.js';
import { readModelConfig } from '../../../models/model-config.js';
import { locateModelFiles } from '../../../models/model-files.js';
import { readOnnxFileInfo } from '../../../models/onnx-file-info.js';
import { locateOnnx } from '../../../models/onnx-variant.js';
import { TextTokenizer } from '../../../models/text-tokenizer.js';
import { GQA, MHA, references } from '../../helpers/fixtures.js';
import { Q4_GENAI as Q4, variantsDir as makeVariants } from '../../helpers/layouts.js';

/** The layouts the hubs ship: ONNX variants by dtype, nested text_config, ORT-GenAI directories. */
const cpu = { ep: 'cpu' as const, deviceId: 0, threads: 1 };
const temps: string[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
});

function variantsDir(): string {
  const dir = makeVariants();
  temps.push(join(dir, '..'));
  return dir;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'unir-layout-'));
  temps.push(dir);
  return dir;
}

function thrown(fn: () => unknown): UnirError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UnirError);
    return err as UnirError;
  }
  throw new Error('expected an error');
}

describe('ONNX variants (transformers.js dtype names)', () => {
  it('--dtype picks model_<suffix>.onnx in the directory or onnx/; none given and several present lists them', () => {
    const dir = variantsDir();
    expect(locateOnnx(dir, { dtype: 'fp16' })).toBe(join(dir, 'onnx', 'model_fp16.onnx'));
    expect(locateOnnx(dir, { dtype: 'q4f16' })).toBe(join(dir, 'onnx', 'model_q4f16.onnx'));
    const none = thrown(() => locateOnnx(dir));
    expect(none.message).toMatch(/several ONNX variants.*fp16 \(onnx\/model_fp16\.onnx\), q4f16 \(onnx\/model_q4f16\.onnx\).*--dtype or --onnx-file/);
    const missing = thrown(() => locateOnnx(dir, { dtype: 'q4' }));
    expect(missing.message).toMatch(/--dtype q4: there is no model_q4\.onnx.*it has fp16 .*q4f16/);
  });

  it('--onnx-file is relative to the model directory; a module\'s onnx_file may not leave it, but links in it are followed', () => {
    const dir = variantsDir();
    expect(locateOnnx(dir, { onnxFile: 'onnx/model_fp16.onnx' })).toBe(join(dir, 'onnx', 'model_fp16.onnx'));
    expect(thrown(() => locateOnnx(dir, { dtype: 'fp16', onnxFile: 'x.onnx' })).message).toMatch(/either --dtype or --onnx-file/);
    const module = { dtype: '"dtype"', onnxFile: '"onnx_file"', confined: true };
    expect(thrown(() => locateOnnx(dir, { onnxFile: join(MHA, 'model.onnx') }, { names: module })).message).toMatch(/"onnx_file" must be a path inside/);
    expect(thrown(() => locateOnnx(dir, { onnxFile: relative(dir, join(MHA, 'model.onnx')) }, { names: module })).message).toMatch(/leaves the model directory/);
    // A link inside the directory is followed wherever it points (the hub cache's snapshots link into ../../blobs).
    symlinkSync(join(MHA, 'model.onnx'), join(dir, 'linked.onnx'));
    expect(locateOnnx(dir, { onnxFile: 'linked.onnx' }, { names: module })).toBe(join(dir, 'linked.onnx'));
    expect(locateOnnx(dir, {}, { genaiFile: 'linked.onnx' })).toBe(join(dir, 'linked.onnx'));
  });

  it('the file info names the graph\'s external data and operators; a missing data file is named', () => {
    const info = readOnnxFileInfo(join(Q4, 'model.onnx'));
    expect(info.externalData).toEqual([{ file: 'model.onnx.data', bytes: readFileSync(join(Q4, 'model.onnx.data')).length }]);
    expect(info.operators).toEqual(expect.arrayContaining(['com.microsoft.MatMulNBits', 'com.microsoft.GroupQueryAttention', 'Gather']));
    expect(readOnnxFileInfo(join(MHA, 'model.onnx')).externalData).toEqual([]);
    const dir = tempDir();
    cpSync(GQA, dir, { recursive: true });
    rmSync(join(dir, 'onnx', 'model.onnx_data'));
    expect(thrown(() => readOnnxFileInfo(join(dir, 'onnx', 'model.onnx'))).message).toMatch(/keeps its weights in model\.onnx_data, which is missing/);
  });

  it('loads the variant chosen: the fp16 graph of a directory holding fp16 and q4f16', async () => {
    const m = await loadDecoder(variantsDir(), cpu, { onnx: { dtype: 'fp16' } });
    expect(m.onnx.path.endsWith(join('onnx', 'model_fp16.onnx'))).toBe(true);
    expect(m.signature.kvDtype).toBe('float16');
    await m.runner.session.release();
  });
});

describe('configs', () => {
  it('a decoder under text_config (multimodal configs) loads and computes the same logits', async () => {
    const dir = tempDir();
    cpSync(MHA, dir, { recursive: true });
    const flat = JSON.parse(readFileSync(join(MHA, 'config.json'), 'utf8'));
    const { eos_token_id, bos_token_id, ...text } = flat;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      architectures: ['Gemma3ForConditionalGeneration'], model_type: 'gemma3', eos_token_id, bos_token_id,
      text_config: { ...text, model_type: 'gemma3_text' }, vision_config: { hidden_size: 1152, num_hidden_layers: 27 },
    }));
    const m = await loadDecoder(dir, cpu);
    expect(m.config).toMatchObject({ modelType: 'gemma3_text', numLayers: 2, numKvHeads: 4, vocabSize: 307, maxPositions: 512 });
    const ref = references.models['tiny-mha-f32'][0];
    const logits = await m.runner.run([{ seqId: 1, tokens: Int32Array.from(ref.prompt_ids) }]);
    expect(Math.max(...ref.step_logits[0].map((v, i) => Math.abs(v - logits.data[i])))).toBeLessThan(1e-4);
    await m.runner.session.release();
  });

  it('a missing field says where it was looked for, text_config included', () => {
    const dir = tempDir();
    cpSync(MHA, dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gemma3', text_config: { hidden_size: 64 } }));
    expect(thrown(() => readModelConfig(locateModelFiles(dir))).message).toMatch(/no positive integer num_hidden_layers.*under text_config/);
  });

  it('an ORT-GenAI directory (genai_config.json, no config.json) gives the same fields', () => {
    const files = locateModelFiles(Q4);
    expect(files.config).toBeNull();
    expect(files.onnx).toBe(join(Q4, 'model.onnx'));
    expect(readModelConfig(files)).toMatchObject({ numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 307, maxPositions: 512, source: 'genai_config.json' });
    const dir = tempDir();
    cpSync(Q4, dir, { recursive: true });
    rmSync(join(dir, 'genai_config.json'));
    expect(thrown(() => locateModelFiles(dir)).message).toMatch(/config\.json is missing.*genai_config\.json/);
  });

  it('tokenizer ids at or past the logits rows are found (Gemma 3\'s tokenizer has one id more than its model)', () => {
    const dir = tempDir();
    cpSync(MHA, dir, { recursive: true });
    const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    tok.added_tokens.push({ id: 307, content: '<image_soft_token>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
    mkdirSync(join(dir, 'unused'));
    const files = locateModelFiles(dir);
    const tokenizer = TextTokenizer.load(files, readModelConfig(files));
    expect(tokenizer.idsFrom(307)).toEqual([{ id: 307, token: '<image_soft_token>' }]);
    expect(tokenizer.idsFrom(308)).toEqual([]);
  });
});
