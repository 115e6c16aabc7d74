import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readManifest } from '../../../adapters/manifest.js';
import { UnirError } from '../../../common/errors.js';
import { readDecoderSignature } from '../../../models/decoder-signature.js';
import { loadDecoder } from '../../../models/load-decoder.js';
import { readModelConfig } from '../../../models/model-config.js';
import { locateModelFiles } from '../../../models/model-files.js';
import { GQA, MHA, REASONERS } from '../../helpers/fixtures.js';

const cpu = { ep: 'cpu' as const, deviceId: 0, threads: 1 };
const temps: string[] = [];

/** A copy of a fixture directory to break. */
function copyOf(dir: string): string {
  const tmp = mkdtempSync(join(tmpdir(), 'unir-model-'));
  temps.push(tmp);
  cpSync(dir, tmp, { recursive: true });
  return tmp;
}

function editJson(path: string, edit: (j: Record<string, unknown>) => void) {
  const j = JSON.parse(readFileSync(path, 'utf8'));
  edit(j);
  writeFileSync(path, JSON.stringify(j));
}

async function loadError(dir: string): Promise<UnirError> {
  const err = await loadDecoder(dir, cpu).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnirError);
  expect((err as UnirError).code).toBe('invalid_model_dir');
  return err as UnirError;
}

afterEach(() => {
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
});

describe('model directory loading', () => {
  it('finds onnx/model.onnx with external .onnx_data', async () => {
    const m = await loadDecoder(GQA, cpu);
    expect(m.files.onnx).toBe(join(GQA, 'onnx', 'model.onnx'));
    await m.runner.session.release();
  });

  it('names a missing tokenizer.json', async () => {
    const dir = copyOf(MHA);
    rmSync(join(dir, 'tokenizer.json'));
    expect((await loadError(dir)).message).toMatch(/tokenizer\.json is missing/);
  });

  it('names a missing config.json', async () => {
    const dir = copyOf(MHA);
    rmSync(join(dir, 'config.json'));
    expect((await loadError(dir)).message).toMatch(/config\.json is missing/);
  });

  it('names a directory without an ONNX graph', async () => {
    const dir = copyOf(MHA);
    rmSync(join(dir, 'model.onnx'));
    expect((await loadError(dir)).message).toMatch(/no ONNX graph.*model\.onnx or onnx\/model\.onnx/);
  });

  it('names missing external weights', async () => {
    const dir = copyOf(GQA);
    rmSync(join(dir, 'onnx', 'model.onnx_data'));
    expect((await loadError(dir)).message).toMatch(/model\.onnx keeps its weights in model\.onnx_data, which is missing beside it/);
  });

  it('refuses a corrupt ONNX file', async () => {
    const dir = copyOf(MHA);
    writeFileSync(join(dir, 'model.onnx'), 'not a protobuf');
    expect((await loadError(dir)).message).toMatch(/model\.onnx is not a readable ONNX file/);
  });

  it('refuses KV heads that disagree with config.json', async () => {
    const dir = copyOf(MHA);
    editJson(join(dir, 'config.json'), (j) => (j.num_key_value_heads = 2));
    expect((await loadError(dir)).message).toMatch(/has 4 KV heads, config\.json says 2/);
  });

  it('refuses a layer count that disagrees with config.json', async () => {
    const dir = copyOf(join(REASONERS, 'r1'));
    editJson(join(dir, 'config.json'), (j) => (j.num_hidden_layers = 2));
    expect((await loadError(dir)).message).toMatch(/1 past key and 1 past value inputs, config\.json says 2 layers/);
  });

  it('refuses a vocabulary size that disagrees with the logits', async () => {
    const dir = copyOf(MHA);
    editJson(join(dir, 'config.json'), (j) => (j.vocab_size = 999));
    expect((await loadError(dir)).message).toMatch(/logits have 307 rows, config\.json says vocab_size 999/);
  });

  it('refuses invalid JSON, naming the file', async () => {
    const dir = copyOf(MHA);
    writeFileSync(join(dir, 'config.json'), '{');
    expect((await loadError(dir)).message).toMatch(/config\.json is not valid JSON/);
  });

  it('a file that is not JSON is not quoted in the error (a module error is shown to every API client)', async () => {
    const dir = copyOf(REASONERS + '/r1');
    writeFileSync(join(dir, 'config.json'), 'root:x:0:0:SECRET:/root');
    writeFileSync(join(dir, 'unir.json'), '{"name": SECRET}');
    const message = (await loadError(dir)).message;
    expect(message).toMatch(/config\.json is not valid JSON/);
    expect(message).not.toMatch(/root|SECRET/);
    const manifest = await readManifest(dir).catch((e: Error) => e);
    expect((manifest as Error).message).toMatch(/unir\.json is not valid JSON \(a syntax error/);
    expect((manifest as Error).message).not.toMatch(/SECRET/);
  });
});

describe('signature discovery', () => {
  const files = locateModelFiles(MHA);
  const config = readModelConfig(files);
  const tensor = (name: string, type: string, shape: (number | string)[]) => ({ name, isTensor: true as const, type: type as never, shape });
  const kv = (prefix: string) =>
    [0, 1].flatMap((i) => ['key', 'value'].map((k) => tensor(`${prefix}.${i}.${k}`, 'float32', ['batch', 4, 'len', 16])));
  const inputs = [tensor('input_ids', 'int64', ['b', 's']), tensor('attention_mask', 'int64', ['b', 't']), ...kv('past_key_values')];
  const outputs = [tensor('logits', 'float32', ['b', 's', 307]), ...kv('present')];

  it('accepts an Optimum-style signature', () => {
    const sig = readDecoderSignature({ inputMetadata: inputs, outputMetadata: outputs }, config, 'x.onnx');
    expect(sig.hasPositionIds).toBe(false);
    expect(sig.pastKeyNames).toEqual(['past_key_values.0.key', 'past_key_values.1.key']);
  });

  it('refuses a graph without logits', () => {
    expect(() => readDecoderSignature({ inputMetadata: inputs, outputMetadata: outputs.slice(1) }, config, 'x.onnx')).toThrow(/no logits output/);
  });

  it('refuses a graph exported without a KV cache', () => {
    expect(() => readDecoderSignature({ inputMetadata: inputs.slice(0, 2), outputMetadata: outputs }, config, 'x.onnx')).toThrow(/text-generation-with-past/);
  });

  it('refuses a KV dtype other than float32/float16', () => {
    const bf16 = inputs.map((m) => (m.name.startsWith('past') ? { ...m, type: 'bfloat16' as never } : m));
    expect(() => readDecoderSignature({ inputMetadata: bf16, outputMetadata: outputs }, config, 'x.onnx')).toThrow(/not supported/);
  });
});
