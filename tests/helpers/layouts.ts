import { cpSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, GQA } from './fixtures.js';

export const Q4_GENAI = join(FIXTURES, 'tiny-q4-genai');

/**
 * onnx-community's layout in a new temp directory (the caller removes it): only onnx/model_fp16.onnx (the GQA float16
 * fixture, with its model.onnx_data) and onnx/model_q4f16.onnx (another graph: the int4 GenAI fixture).
 */
export function variantsDir(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'unir-variants-')), 'tiny-gqa-f16');
  cpSync(GQA, dir, { recursive: true });
  renameSync(join(dir, 'onnx', 'model.onnx'), join(dir, 'onnx', 'model_fp16.onnx'));
  cpSync(join(Q4_GENAI, 'model.onnx'), join(dir, 'onnx', 'model_q4f16.onnx'));
  cpSync(join(Q4_GENAI, 'model.onnx.data'), join(dir, 'onnx', 'model.onnx.data'));
  return dir;
}
