import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UnirError } from '../common/errors.js';
import { readJsonObject } from './json-file.js';
import { locateOnnx, type ChoiceNames, type OnnxChoice } from './onnx-variant.js';

/**
 * The files of a model directory: the Hugging Face / Optimum / onnx-community layout (config.json), or the
 * ORT-GenAI model builder's (genai_config.json, model.onnx, tokenizer files, no config.json).
 */
export interface ModelFiles {
  dir: string;
  onnx: string;
  /** config.json; null in an ORT-GenAI directory, whose genai_config.json says the same. */
  config: string | null;
  tokenizer: string;
  tokenizerConfig: string | null;
  generationConfig: string | null;
  /** genai_config.json of an ORT-GenAI model-builder directory. */
  genaiConfig: string | null;
}

/** A model directory's files but its graph: what the tokenizer and the config are read from. */
export type ModelConfigFiles = Omit<ModelFiles, 'onnx'>;

/**
 * Finds the files of a model directory; a missing one is one clear error naming what was looked for. `choice`
 * picks the ONNX variant (--dtype / --onnx-file, or a module's "dtype" / "onnx_file").
 */
export function locateModelFiles(dirArg: string, choice: OnnxChoice = {}, names?: ChoiceNames): ModelFiles {
  const files = locateConfigFiles(dirArg);
  return { ...files, onnx: locateOnnx(files.dir, choice, { genaiFile: files.genaiConfig ? genaiDecoderFile(files.genaiConfig) : null, names }) };
}

/** The config and tokenizer files of a model directory, without choosing among its ONNX variants. */
export function locateConfigFiles(dirArg: string): ModelConfigFiles {
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
  const genaiConfig = optional('genai_config.json');
  const config = genaiConfig ? optional('config.json') : required('config.json', 'every model directory needs the config.json of its export (or the genai_config.json of an ORT-GenAI one)');
  return {
    dir,
    config,
    tokenizer: required('tokenizer.json', 'unir-serve tokenizes with the fast-tokenizer file tokenizer.json'),
    tokenizerConfig: optional('tokenizer_config.json'),
    generationConfig: optional('generation_config.json'),
    genaiConfig,
  };
}

function genaiDecoderFile(path: string): string | null {
  const model = readJsonObject(path).model as { decoder?: { filename?: unknown } } | undefined;
  return typeof model?.decoder?.filename === 'string' ? model.decoder.filename : null;
}
