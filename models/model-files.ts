import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UnirError } from '../common/errors.js';

/** The files of a model directory in the Hugging Face / Optimum / onnx-community layout. */
export interface ModelFiles {
  dir: string;
  onnx: string;
  config: string;
  tokenizer: string;
  tokenizerConfig: string | null;
  generationConfig: string | null;
  /** genai_config.json of an ORT-GenAI model-builder directory. */
  genaiConfig: string | null;
}

/** Finds the files of a model directory; a missing one is one clear error naming what was looked for. */
export function locateModelFiles(dirArg: string): ModelFiles {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UnirError('invalid_model_dir', `model directory ${dir} does not exist or is not a directory`);
  }
  const required = (name: string, what: string): string => {
    const path = join(dir, name);
    if (!existsSync(path)) throw new UnirError('invalid_model_dir', `${path} is missing: ${what}`);
    return path;
  };
  const optional = (name: string): string | null => (existsSync(join(dir, name)) ? join(dir, name) : null);
  return {
    dir,
    config: required('config.json', 'every model directory needs the config.json of its export'),
    tokenizer: required('tokenizer.json', 'unir-serve tokenizes with the fast-tokenizer file tokenizer.json'),
    tokenizerConfig: optional('tokenizer_config.json'),
    generationConfig: optional('generation_config.json'),
    genaiConfig: optional('genai_config.json'),
    onnx: locateOnnx(dir),
  };
}

function locateOnnx(dir: string): string {
  for (const candidate of ['model.onnx', join('onnx', 'model.onnx')]) {
    if (existsSync(join(dir, candidate))) return join(dir, candidate);
  }
  const sub = join(dir, 'onnx');
  const variants = existsSync(sub) ? readdirSync(sub).filter((f) => f.endsWith('.onnx')) : [];
  if (variants.length === 1) return join(sub, variants[0]);
  if (variants.length > 1) {
    throw new UnirError(
      'invalid_model_dir',
      `${sub} holds several ONNX variants (${variants.join(', ')}) and no model.onnx: keep one, or name the one to serve model.onnx`,
    );
  }
  throw new UnirError('invalid_model_dir', `no ONNX graph in ${dir}: expected model.onnx or onnx/model.onnx`);
}
