import { UnirError } from '../common/errors.js';
import { readJsonObject } from './json-file.js';
import type { ModelFiles } from './model-files.js';

/** What the runtime needs from config.json and generation_config.json, under the names of several families. */
export interface ModelConfig {
  modelType: string;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export function readModelConfig(files: ModelFiles): ModelConfig {
  const raw = readJsonObject(files.config);
  const gen = files.generationConfig ? readJsonObject(files.generationConfig) : {};
  const pick = (...keys: string[]): number | undefined => {
    for (const k of keys) if (typeof raw[k] === 'number') return raw[k] as number;
    return undefined;
  };
  const need = (what: string, ...keys: string[]): number => {
    const v = pick(...keys);
    if (v === undefined || !Number.isInteger(v) || v <= 0) {
      throw new UnirError('invalid_model_dir', `${files.config} has no positive integer ${keys.join(' or ')} (${what})`);
    }
    return v;
  };
  const numLayers = need('number of layers', 'num_hidden_layers', 'n_layer', 'num_layers');
  const numHeads = need('attention heads', 'num_attention_heads', 'n_head');
  const hidden = need('hidden size', 'hidden_size', 'n_embd', 'd_model');
  const numKvHeads = pick('num_key_value_heads', 'num_kv_heads') ?? (raw.multi_query === true ? 1 : numHeads);
  const headDim = pick('head_dim') ?? hidden / numHeads;
  if (!Number.isInteger(headDim)) {
    throw new UnirError('invalid_model_dir', `${files.config}: hidden size ${hidden} is not a multiple of ${numHeads} heads and head_dim is not set`);
  }
  return {
    modelType: typeof raw.model_type === 'string' ? raw.model_type : 'unknown',
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: need('vocabulary size', 'vocab_size'),
    maxPositions: pick('max_position_embeddings', 'n_positions', 'n_ctx', 'max_sequence_length') ?? Number.MAX_SAFE_INTEGER,
    bosTokenId: tokenIds(gen.bos_token_id ?? raw.bos_token_id)[0] ?? null,
    // generation_config.json is what generate() obeys, so its EOS list wins over config.json's.
    eosTokenIds: tokenIds(gen.eos_token_id ?? raw.eos_token_id),
  };
}

function tokenIds(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}
