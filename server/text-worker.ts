/**
 * Worker entry of the text pool: loads the base's tokenizer and chat template once, then runs TEXT_TASKS for the
 * main thread, one at a time, so that tokenizing a long prompt never holds the HTTP event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../common/errors.js';
import { ChatTemplate } from '../models/chat-template.js';
import { readModelConfig } from '../models/model-config.js';
import { locateConfigFiles } from '../models/model-files.js';
import { TextTokenizer } from '../models/text-tokenizer.js';
import type { TextPoolData, TextReply, TextRequest } from './text-pool.js';
import { TEXT_TASKS, type TextEnv } from './text-tasks.js';

const data = workerData as TextPoolData;
// Config and tokenizer files only: the worker serves no graph, so it need not choose among ONNX variants.
const files = locateConfigFiles(data.modelDir);
const tokenizer = TextTokenizer.load(files, readModelConfig(files));
const env: TextEnv = {
  tokenizer,
  chatTemplate: data.chatTemplate ? new ChatTemplate(data.chatTemplate, { bos_token: tokenizer.bosToken, eos_token: tokenizer.eosToken }) : null,
  modelId: data.modelId,
  maxContext: data.maxContext,
  maxCharsPerToken: tokenizer.maxCharsPerToken,
};

parentPort!.on('message', (msg: TextRequest) => {
  let reply: TextReply;
  try {
    const task = TEXT_TASKS[msg.task] as (env: TextEnv, ...args: unknown[]) => unknown;
    reply = { id: msg.id, ok: true, value: task(env, ...msg.args) };
  } catch (err) {
    reply = { id: msg.id, ok: false, error: serializeError(err) };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ id: 0, ok: true, value: 'ready' } satisfies TextReply);
