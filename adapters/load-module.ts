import { UnirError } from '../common/errors.js';
import type { ModuleLoad } from '../engine/protocol.js';
import { loadDecoder, type LoadedDecoder } from '../models/load-decoder.js';
import { readModelConfig } from '../models/model-config.js';
import { locateConfigFiles, locateModelFiles } from '../models/model-files.js';
import type { ChoiceNames } from '../models/onnx-variant.js';
import { TextTokenizer } from '../models/text-tokenizer.js';
import { tokenizerMismatch } from './tokenizer-compatibility.js';

/**
 * Loads one module version in the calling thread, which then owns its session: checks its tokenizer against the
 * base's first (fusion adds rows by token id), then creates the session on the module's provider.
 */
/** A module's choice is named by its unir.json / admin API fields, and may not leave the module directory. */
const MODULE_NAMES: ChoiceNames = { dtype: '"dtype"', onnxFile: '"onnx_file"', confined: true };

export async function loadModule(load: ModuleLoad): Promise<LoadedDecoder> {
  const files = locateModelFiles(load.dir, load.onnx, MODULE_NAMES);
  // The base's tokenizer and config only: its directory may hold several ONNX variants (the server chose one).
  const baseFiles = locateConfigFiles(load.baseDir);
  const mismatch = tokenizerMismatch(
    TextTokenizer.load(baseFiles, readModelConfig(baseFiles)),
    TextTokenizer.load(files, readModelConfig(files)),
  );
  if (mismatch) throw new UnirError('incompatible_reasoner', `reasoning module ${load.name} (${load.dir}) is not compatible with the base: ${mismatch}`);
  return loadDecoder(load.dir, load.session, { onnx: load.onnx, names: MODULE_NAMES });
}
