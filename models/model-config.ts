import { basename } from 'node:path';
import { UnirError } from '../common/errors.js';
import { readJsonObject } from './json-file.js';
import type { ModelConfigFiles } from './model-files.js';

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
  /** The file these came from, for messages: config.json, or genai_config.json in an ORT-GenAI directory. */
  source: string;
}

/**
 * Reads the decoder's shape. Multimodal configs keep the text decoder under `text_config` (Gemma 3, Llama 4,
 * Mistral 3): its fields win over the top level's. An ORT-GenAI directory has no config.json: genai_config.json's
 * model.decoder says the same under other names.
 */
export function readModelConfig(files: ModelConfigFiles): ModelConfig {
  const path = files.config ?? files.genaiConfig!;
  const raw = files.config ? withTextConfig(readJsonObject(files.config)) : fromGenaiConfig(readJsonObject(path), path);
  const gen = files.generationConfig ? readJsonObject(files.generationConfig) : {};
  const nested = files.config !== null && raw.text_config !== undefined;
  const pick = (...keys: string[]): number | undefined => {
    for (const k of keys) if (typeof raw[k] === 'number') return raw[k] as number;
    return undefined;
  };
  const need = (what: string, ...keys: string[]): number => {
    const v = pick(...keys);
    if (v === undefined || !Number.isInteger(v) || v <= 0) {
      const where = files.config ? (nested ? ' (at the top level or under text_config)' : ' (at the top level, or under text_config for a multimodal model)') : '';
      throw new UnirError('invalid_model_dir', `${path} has no positive integer ${keys.join(' or ')}${where} (${what})`);
    }
    return v;
  };
  const numLayers = need('number of layers', 'num_hidden_layers', 'n_layer', 'num_layers');
  const numHeads = need('attention heads', 'num_attention_heads', 'n_head');
  const hidden = need('hidden size', 'hidden_size', 'n_embd', 'd_model');
  const numKvHeads = pick('num_key_value_heads', 'num_kv_heads') ?? (raw.multi_query === true ? 1 : numHeads);
  const headDim = pick('head_dim') ?? hidden / numHeads;
  if (!Number.isInteger(headDim)) {
    throw new UnirError('invalid_model_dir', `${path}: hidden size ${hidden} is not a multiple of ${numHeads} heads and head_dim is not set`);
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
    source: basename(path),
  };
}

/** The text decoder's fields over the top level's (ids such as eos_token_id may sit at either). */
function withTextConfig(raw: Record<string, unknown>): Record<string, unknown> {
  const text = raw.text_config;
  if (!text || typeof text !== 'object' || Array.isArray(text)) return raw;
  const merged: Record<string, unknown> = { ...raw };
  for (const [k, v] of Object.entries(text as Record<string, unknown>)) if (v !== null && v !== undefined) merged[k] = v;
  return merged;
}

/** genai_config.json (model.decoder.*) in config.json's names. */
function fromGenaiConfig(genai: Record<string, unknown>, path: string): Record<string, unknown> {
  const model = genai.model as Record<string, unknown> | undefined;
  const decoder = model?.decoder as Record<string, unknown> | undefined;
  if (!model || !decoder) throw new UnirError('invalid_model_dir', `${path} has no model.decoder: is it an ORT-GenAI genai_config.json?`);
  const inputs = (decoder.inputs ?? {}) as Record<string, unknown>;
  const outputs = (decoder.outputs ?? {}) as Record<string, unknown>;
  const expected: [string, unknown, string][] = [
    ['inputs.past_key_names', inputs.past_key_names, 'past_key_values.%d.key'],
    ['inputs.past_value_names', inputs.past_value_names, 'past_key_values.%d.value'],
    ['outputs.present_key_names', outputs.present_key_names, 'present.%d.key'],
    ['outputs.present_value_names', outputs.present_value_names, 'present.%d.value'],
  ];
  for (const [name, value, standard] of expected) {
    if (value !== undefined && value !== standard) {
      throw new UnirError('invalid_model_dir', `${path}: decoder.${name} is ${JSON.stringify(value)}; unir-serve feeds the builder's standard names (${standard})`);
    }
  }
  return {
    model_type: model.type,
    num_hidden_layers: decoder.num_hidden_layers,
    num_attention_heads: decoder.num_attention_heads,
    num_key_value_heads: decoder.num_key_value_heads,
    head_dim: decoder.head_size,
    hidden_size: decoder.hidden_size,
    vocab_size: model.vocab_size,
    max_position_embeddings: model.context_length,
    bos_token_id: model.bos_token_id,
    eos_token_id: model.eos_token_id,
  };
}

function tokenIds(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}
