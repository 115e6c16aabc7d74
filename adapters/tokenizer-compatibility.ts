import { UnirError } from '../common/errors.js';
import { readModelConfig } from '../models/model-config.js';
import { locateConfigFiles } from '../models/model-files.js';
import type { ChoiceNames } from '../models/onnx-variant.js';
import { TextTokenizer } from '../models/text-tokenizer.js';

/** A module's ONNX choice is named by its unir.json / admin API fields, and may not leave the module directory. */
export const MODULE_CHOICE_NAMES: ChoiceNames = { dtype: '"dtype"', onnxFile: '"onnx_file"', confined: true };

/**
 * Throws incompatible_reasoner unless the module in `dir` tokenizes as the base in `baseDir`. Parses both
 * tokenizer.json files: seconds for a 151k-token vocabulary, so never on a thread that drives a shared device.
 */
export function checkModuleTokenizer(load: { name: string; dir: string; baseDir: string }): void {
  // Config and tokenizer files only: either directory may hold several ONNX variants (the loads choose one).
  const files = locateConfigFiles(load.dir);
  const baseFiles = locateConfigFiles(load.baseDir);
  const mismatch = tokenizerMismatch(TextTokenizer.load(baseFiles, readModelConfig(baseFiles)), TextTokenizer.load(files, readModelConfig(files)));
  if (mismatch) throw new UnirError('incompatible_reasoner', `reasoning module ${load.name} is not compatible with the base: ${mismatch}`);
}

/**
 * Logit fusion adds row i of one model to row i of another, so it is only meaningful when id i is the same
 * token in both. Checks the token-to-id maps on the ids both tokenizers define, and the special tokens.
 * Returns null when compatible, else the reason (the first differences).
 */
export function tokenizerMismatch(base: TextTokenizer, module: TextTokenizer): string | null {
  const baseById = byId(base.vocab);
  const moduleById = byId(module.vocab);
  const differences: string[] = [];
  let count = 0;
  for (const [id, token] of baseById) {
    const other = moduleById.get(id);
    if (other !== undefined && other !== token) {
      count++;
      if (differences.length < 3) differences.push(`id ${id} is ${JSON.stringify(token)} in the base and ${JSON.stringify(other)} in the module`);
    }
  }
  if (count > 0) {
    return `tokenizers differ on ${count} shared token id${count > 1 ? 's' : ''} (${differences.join('; ')}): the module must be trained with the base's tokenizer`;
  }
  const specials = (t: TextTokenizer) => [...t.specialIds].sort((a, b) => a - b).join(',');
  if (specials(base) !== specials(module)) {
    return `special tokens differ: base has ids [${specials(base)}], the module [${specials(module)}]`;
  }
  const eos = (t: TextTokenizer) => [...t.eosTokenIds].sort((a, b) => a - b).join(',');
  if (eos(base) !== eos(module)) return `EOS token ids differ: base [${eos(base)}], module [${eos(module)}]`;
  return null;
}

function byId(vocab: ReadonlyMap<string, number>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [token, id] of vocab) out.set(id, token);
  return out;
}
