import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readModelConfig } from '../../models/model-config.js';
import { locateModelFiles } from '../../models/model-files.js';
import { TextTokenizer } from '../../models/text-tokenizer.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const MHA = join(FIXTURES, 'tiny-mha-f32');
export const GQA = join(FIXTURES, 'tiny-gqa-f16');
export const REASONERS = join(FIXTURES, 'reasoners');
/** Modules that load but misbehave (r-fails: every run fails in ONNX Runtime). */
export const FAULTY = join(FIXTURES, 'faulty');
/** A decoder-shaped graph of a handful of kernels, for long disposal runs (training/make_kv_echo_fixture.py). */
export const KV_ECHO = join(FIXTURES, 'kv-echo');

export interface PromptReference {
  prompt: string;
  prompt_ids: number[];
  greedy_ids: number[];
  greedy_text: string;
  step_logits: number[][];
}

export interface References {
  tokenizer: { vocab_size: number; specials: Record<string, number>; samples: { text: string; ids: number[] }[] };
  models: Record<'tiny-mha-f32' | 'tiny-gqa-f16', PromptReference[]>;
  fused: Record<string, PromptReference[]>;
  fused_weights: Record<string, Record<string, number>>;
  steps: number;
}

/** PyTorch's outputs for the fixtures, written by training/make_fixtures.py. */
export const references: References = JSON.parse(readFileSync(join(FIXTURES, 'references.json'), 'utf8'));

/** The text the server returns for reference tokens: special tokens are skipped, as in vLLM's default. */
export function servedText(ids: readonly number[]): string {
  return fixtureTokenizer().decode(ids);
}

let tokenizer: TextTokenizer | null = null;
function fixtureTokenizer(): TextTokenizer {
  if (!tokenizer) {
    const files = locateModelFiles(join(FIXTURES, 'tiny-mha-f32'));
    tokenizer = TextTokenizer.load(files, readModelConfig(files));
  }
  return tokenizer;
}

/** The largest |got[i] - expected[i]| and the argmax of `got` (a fused or single model's logits row). */
export function compareLogits(got: ArrayLike<number>, expected: readonly number[]): { worst: number; argmax: number } {
  let worst = 0;
  let argmax = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - expected[i]));
    if (got[i] > got[argmax]) argmax = i;
  }
  return { worst, argmax };
}
