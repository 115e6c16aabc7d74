import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UnirError } from '../common/errors.js';
import { readJsonObject } from './json-file.js';

/**
 * Sampling defaults a model ships in generation_config.json (Qwen3: temperature 0.6, top_k 20, top_p 0.95), in the
 * request fields' names. A request that omits a field gets the model's value, as vLLM does by default
 * (`--generation-config auto`); fields the model does not set keep OpenAI's defaults.
 */
export interface SamplingDefaults {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
}

/** The fields vLLM takes from generation_config.json (max_new_tokens aside), with the ranges requests have. */
const FIELDS: { key: keyof SamplingDefaults; ok: (v: number) => boolean; range: string }[] = [
  { key: 'temperature', ok: (v) => v >= 0 && v <= 2, range: '0..2' },
  { key: 'top_p', ok: (v) => v > 0 && v <= 1, range: '(0, 1]' },
  { key: 'top_k', ok: (v) => Number.isInteger(v) && v >= -1, range: 'an integer >= -1' },
  { key: 'min_p', ok: (v) => v >= 0 && v <= 1, range: '0..1' },
  { key: 'repetition_penalty', ok: (v) => v > 0 && v <= 10, range: '(0, 10]' },
];

/** `--generation-config`: auto (the model's file), none (OpenAI's defaults; `vllm` is vLLM's name for it), or a directory. */
export type GenerationConfigChoice = 'auto' | 'none' | string;

export interface LoadedDefaults {
  defaults: SamplingDefaults;
  /** The file they came from, or null. */
  source: string | null;
}

/**
 * The defaults in force. `auto` reads the model directory's generation_config.json, or, in an ORT-GenAI directory
 * without one, genai_config.json's "search" when it samples (do_sample: true). A value out of the range a request
 * may give is a start-up error naming the file and the field.
 */
export function loadSamplingDefaults(choice: GenerationConfigChoice, model: { generationConfig: string | null; genaiConfig: string | null }): LoadedDefaults {
  if (choice === 'none' || choice === 'vllm') return { defaults: {}, source: null };
  if (choice !== 'auto') {
    const path = existsSync(choice) && statSync(choice).isDirectory() ? join(choice, 'generation_config.json') : choice;
    if (!existsSync(path)) throw new UnirError('invalid_request', `--generation-config: ${path} does not exist (give auto, none, or a directory holding generation_config.json)`);
    return { defaults: pickDefaults(readJsonObject(path), path), source: path };
  }
  if (model.generationConfig) return { defaults: pickDefaults(readJsonObject(model.generationConfig), model.generationConfig), source: model.generationConfig };
  if (model.genaiConfig) {
    const search = readJsonObject(model.genaiConfig).search as Record<string, unknown> | undefined;
    // GenAI's builder writes greedy placeholders (top_k 1) with do_sample false: only a sampling config is a default.
    if (search && search.do_sample === true) return { defaults: pickDefaults(search, `${model.genaiConfig} (search)`), source: model.genaiConfig };
  }
  return { defaults: {}, source: null };
}

function pickDefaults(raw: Record<string, unknown>, where: string): SamplingDefaults {
  const out: SamplingDefaults = {};
  for (const { key, ok, range } of FIELDS) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
      throw new UnirError('invalid_model_dir', `${where}: ${key} ${JSON.stringify(v)} is outside what a request may give (${range}); fix the file or start with --generation-config none`);
    }
    out[key] = v;
  }
  return out;
}
