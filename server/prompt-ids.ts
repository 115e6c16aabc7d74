import { UnirError } from '../common/errors.js';
import type { AppContext } from './app-context.js';
import { checkPromptChars } from './prompt-length.js';

/** One prompt as a request gives it: text, or token ids. */
export type PromptInput = string | number[];

const FORMS = "'prompt' must be a string, or an array of strings, token ids or arrays of token ids, not a mix";

/**
 * OpenAI's four prompt forms (a string, an array of strings, an array of token ids, an array of token-id arrays)
 * as a list of prompts; `list` tells whether the request gave several (a flat token array is one prompt).
 * The schema has checked the outer types; this checks what JSON Schema cannot say clearly.
 */
export function promptInputs(prompt: string | unknown[]): { inputs: PromptInput[]; list: boolean } {
  if (typeof prompt === 'string') return { inputs: [prompt], list: false };
  if (prompt.every((p) => typeof p === 'number')) return { inputs: [checkedIds(prompt as number[], 'prompt')], list: false };
  if (prompt.every((p) => typeof p === 'string')) return { inputs: prompt as string[], list: true };
  if (prompt.every((p) => Array.isArray(p))) {
    return {
      inputs: (prompt as unknown[][]).map((ids, i) => {
        if (ids.length === 0) throw new UnirError('invalid_request', `prompt[${i}] is an empty token array`, 'prompt');
        return checkedIds(ids, `prompt[${i}]`);
      }),
      list: true,
    };
  }
  throw new UnirError('invalid_request', FORMS, 'prompt');
}

function checkedIds(ids: unknown[], where: string): number[] {
  ids.forEach((id, j) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw new UnirError('invalid_request', `${where}[${j}] must be a non-negative integer token id, got ${JSON.stringify(id)}`, 'prompt');
    }
  });
  return ids as number[];
}

/**
 * One prompt's token ids. A text longer than the context can hold is refused before tokenizing; long texts are
 * tokenized off the event loop (the text pool). Every id must be below the model's logits rows: a tokenizer may
 * know ids the model has no row for (Gemma 3's tokenizer has 262,145 tokens, its model 262,144 rows), and ONNX
 * Runtime's Gather would fail on them.
 */
export async function promptTokenIds(ctx: AppContext, input: PromptInput, addSpecialTokens = true): Promise<Int32Array> {
  if (typeof input === 'string') checkPromptChars(ctx, input, 'prompt');
  const ids = typeof input === 'string' ? await ctx.text.run('encode', [input, addSpecialTokens], input.length) : Int32Array.from(input);
  checkTokenRange(ctx, ids, typeof input === 'string', 'prompt');
  return ids;
}

/** Refuses ids at or past the model's logits rows, naming the token when it came from text. */
export function checkTokenRange(ctx: AppContext, ids: ArrayLike<number>, fromText: boolean, param: string): void {
  const rows = ctx.engine.base.vocabSize;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < rows) continue;
    const range = `its logits have ${rows} rows (ids 0..${rows - 1})`;
    const message = fromText
      ? `the ${param} holds token ${JSON.stringify(ctx.tokenizer.tokenText(ids[i]))} (id ${ids[i]}), which the tokenizer knows but the model cannot take: ${range}`
      : `the ${param} holds token id ${ids[i]}, outside the vocabulary: ${range}`;
    throw new UnirError('invalid_request', message, param);
  }
}

/**
 * Every prompt of a completion request as token ids (none may be empty). Every text's length is checked before
 * any is tokenized, so a list with one oversized prompt costs no tokenizing.
 */
export async function promptIdList(ctx: AppContext, prompt: string | unknown[]): Promise<Int32Array[]> {
  const { inputs } = promptInputs(prompt);
  for (const input of inputs) if (typeof input === 'string') checkPromptChars(ctx, input, 'prompt');
  const lists = await Promise.all(inputs.map((input) => (typeof input === 'string' ? ctx.text.run('encode', [input, true], input.length) : Int32Array.from(input))));
  return lists.map((ids, i) => {
    if (ids.length === 0) throw new UnirError('invalid_request', `${inputs.length > 1 ? `prompt[${i}]` : 'the prompt'} is empty after tokenization`, 'prompt');
    checkTokenRange(ctx, ids, typeof inputs[i] === 'string', 'prompt');
    return ids;
  });
}

/** A single prompt (text or token ids) as token ids, checked as POST /v1/completions checks it. */
export async function promptIds(ctx: AppContext, prompt: PromptInput): Promise<Int32Array> {
  return (await promptIdList(ctx, prompt))[0];
}
