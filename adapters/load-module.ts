import type { ModuleLoad } from '../engine/protocol.js';
import { loadDecoder, type LoadedDecoder } from '../models/load-decoder.js';
import { checkModuleTokenizer } from './tokenizer-compatibility.js';

/**
 * Loads one module version in the calling thread, which then owns its session: checks its tokenizer against the
 * base's first (fusion adds rows by token id) unless that ran already on another thread, then creates the session
 * on the module's provider.
 */
export async function loadModule(load: ModuleLoad): Promise<LoadedDecoder> {
  if (!load.tokenizerChecked) checkModuleTokenizer(load);
  return loadDecoder(load.dir, load.session);
}
