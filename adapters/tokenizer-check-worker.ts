/**
 * Worker entry: checks a module's tokenizer against the base's, then ends. Module hosts whose session thread drives
 * a shared device (the engine thread, the device worker) run the check here first, so that thread only creates the
 * session (adapters/module-host.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError, type SerializedError } from '../common/errors.js';
import { checkModuleTokenizer } from './tokenizer-compatibility.js';

let result: SerializedError | null = null;
try {
  checkModuleTokenizer(workerData as { name: string; dir: string; baseDir: string });
} catch (err) {
  result = serializeError(err);
}
parentPort!.postMessage(result);
