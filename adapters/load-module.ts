import { UnirError } from '../common/errors.js';
import type { ModuleLoad } from '../engine/protocol.js';
import { loadDecoder, type LoadedDecoder } from '../models/load-decoder.js';
import { readModelConfig } from '../models/model-config.js';
import { locateModelFiles } from '../models/model-files.js';
import { TextTokenizer } from '../models/text-tokenizer.js';
import { tokenizerMismatch } from './tokenizer-compatibility.js';

/**
 * Loads one module version in the calling thread, which then owns its session: checks its tokenizer against the
 * base's first (fusion adds rows by token id), then creates the session on the module's provider.
 */
export async function loadModule(load: ModuleLoad): Promise<LoadedDecoder> {
  const files = locateModelFiles(load.dir);
  const baseFiles = locateModelFiles(load.baseDir);
  const mismatch = tokenizerMismatch(
    TextTokenizer.load(baseFiles, readModelConfig(baseFiles)),
    TextTokenizer.load(files, readModelConfig(files)),
  );
  if (mismatch) throw new UnirError('incompatible_reasoner', `reasoning module ${load.name} (${load.dir}) is not compatible with the base: ${mismatch}`);
  return loadDecoder(load.dir, load.session);
}
