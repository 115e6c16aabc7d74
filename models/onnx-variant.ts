import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UnirError } from '../common/errors.js';

/**
 * The ONNX file variants a model directory may hold, by transformers.js's `dtype` names and file suffixes
 * (onnx-community ships onnx/model.onnx, model_fp16.onnx, model_q4.onnx, model_q4f16.onnx, ...). `q8` is
 * transformers.js's name for `_quantized`; `quantized` (the suffix itself) is accepted too.
 */
export const DTYPE_SUFFIXES = {
  fp32: '',
  fp16: '_fp16',
  q4: '_q4',
  q4f16: '_q4f16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  quantized: '_quantized',
  bnb4: '_bnb4',
} as const;

export type OnnxDtype = keyof typeof DTYPE_SUFFIXES;
export const ONNX_DTYPES = Object.keys(DTYPE_SUFFIXES) as OnnxDtype[];

/** Which graph to serve: by dtype, by file, or (neither) the directory's one default. */
export interface OnnxChoice {
  dtype?: OnnxDtype | null;
  /** Relative to the model directory (or absolute, for the base on the command line). */
  onnxFile?: string | null;
}

/** Where the choice came from, for messages: '--dtype' on the CLI, '"dtype"' in unir.json or the admin API. */
export interface ChoiceNames {
  dtype: string;
  onnxFile: string;
  /** Refuse files outside the directory (modules: unir.json and the admin API are not the operator's shell). */
  confined: boolean;
}

const CLI: ChoiceNames = { dtype: '--dtype', onnxFile: '--onnx-file', confined: false };

export function isOnnxDtype(v: unknown): v is OnnxDtype {
  return typeof v === 'string' && Object.hasOwn(DTYPE_SUFFIXES, v);
}

/**
 * The graph file of a model directory. Without a choice: the GenAI config's decoder file, else model.onnx or
 * onnx/model.onnx, else the only file in onnx/. Several variants and no model.onnx is an error that lists them
 * with their dtypes.
 */
export function locateOnnx(dir: string, choice: OnnxChoice = {}, opts: { genaiFile?: string | null; names?: ChoiceNames } = {}): string {
  const names = opts.names ?? CLI;
  if (choice.dtype && choice.onnxFile) {
    throw new UnirError('invalid_request', `give either ${names.dtype} or ${names.onnxFile}, not both`);
  }
  if (choice.onnxFile) return fileInside(dir, choice.onnxFile, names);
  if (choice.dtype) {
    const file = `model${DTYPE_SUFFIXES[choice.dtype]}.onnx`;
    for (const candidate of [file, join('onnx', file)]) if (existsSync(join(dir, candidate))) return join(dir, candidate);
    throw new UnirError('invalid_model_dir', `${names.dtype} ${choice.dtype}: there is no ${file} in ${dir} or its onnx/ folder; ${available(dir)}`);
  }
  if (opts.genaiFile) return fileInside(dir, opts.genaiFile, { ...names, onnxFile: 'genai_config.json\'s decoder.filename', confined: true });
  for (const candidate of ['model.onnx', join('onnx', 'model.onnx')]) {
    if (existsSync(join(dir, candidate))) return join(dir, candidate);
  }
  const variants = onnxFilesIn(dir);
  if (variants.length === 1) return join(dir, variants[0]);
  if (variants.length > 1) {
    throw new UnirError('invalid_model_dir', `${dir} holds several ONNX variants and no model.onnx: ${available(dir)}; choose one with ${names.dtype} or ${names.onnxFile}`);
  }
  throw new UnirError('invalid_model_dir', `no ONNX graph in ${dir}: expected model.onnx or onnx/model.onnx`);
}

/** ".onnx files of the directory and its onnx/ folder, relative to it." */
function onnxFilesIn(dir: string): string[] {
  const list = (sub: string) => {
    const folder = join(dir, sub);
    return existsSync(folder) && statSync(folder).isDirectory() ? readdirSync(folder).filter((f) => f.endsWith('.onnx')).map((f) => join(sub, f)) : [];
  };
  return [...list(''), ...list('onnx')].sort();
}

/** "it has fp16 (onnx/model_fp16.onnx), q4f16 (onnx/model_q4f16.onnx)" */
function available(dir: string): string {
  const files = onnxFilesIn(dir);
  if (files.length === 0) return 'it holds no .onnx file';
  const named = files.map((f) => {
    const base = f.replace(/^onnx[\\/]/, '');
    const dtype = ONNX_DTYPES.find((d) => d !== 'q8' && base === `model${DTYPE_SUFFIXES[d]}.onnx`);
    return dtype ? `${dtype} (${f})` : f;
  });
  return `it has ${named.join(', ')}`;
}

function fileInside(dir: string, file: string, names: ChoiceNames): string {
  if (names.confined && isAbsolute(file)) throw new UnirError('invalid_request', `${names.onnxFile} must be a path inside the model directory, got ${JSON.stringify(file)}`);
  const path = isAbsolute(file) ? file : resolve(dir, file);
  const leaves = (rel: string) => rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel);
  // Checked on the name: a module is loaded from a private copy, where a path out of it names nothing. Symbolic
  // links in the directory are followed, as the Hugging Face hub cache's snapshot folders are links into ../../blobs
  // (checking real paths refused every model downloaded there, while "dtype" followed the same links).
  if (names.confined && leaves(relative(resolve(dir), path))) {
    throw new UnirError('invalid_request', `${names.onnxFile} ${JSON.stringify(file)} leaves the model directory`);
  }
  if (!existsSync(path) || !statSync(path).isFile()) throw new UnirError('invalid_model_dir', `${names.onnxFile} ${file}: ${path} is not a file`);
  return path;
}
