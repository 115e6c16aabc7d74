import { deserializeError } from '../common/errors.js';
import type { DoneEvent, ReturnedToken, TokenEvent } from '../engine/generation-request.js';
import { usageExtensions } from './attribution-format.js';
import type { ChoiceEvent } from './generation-run.js';

/** One choice gathered from its events: the text, the tokens it is made of (with logprobs) and how it ended. */
export interface CollectedChoice {
  index: number;
  text: string;
  /** With logprobs: one entry per token whose text is in `text`, in order. */
  returnedTokens: ReturnedToken[];
  /** Token events that carry an attribution (when the request asked for it): one per sampled token, in order. */
  attributed: TokenEvent[];
  done: DoneEvent | null;
}

export function newChoice(index: number): CollectedChoice {
  return { index, text: '', returnedTokens: [], attributed: [], done: null };
}

/** Adds one event to its choice; the same function serves plain responses and streams, so they agree. */
export function addEvent(choice: CollectedChoice, event: TokenEvent | DoneEvent): void {
  choice.text += event.text;
  if (event.returnedTokens) choice.returnedTokens.push(...event.returnedTokens);
  if (event.kind === 'token' && event.attribution) choice.attributed.push(event);
  if (event.kind === 'done') choice.done = event;
}

/** Gathers every choice of a run; throws the first choice error (as the coded error it carries). */
export async function collectChoices(run: AsyncIterable<ChoiceEvent>, n: number): Promise<CollectedChoice[]> {
  const choices = Array.from({ length: n }, (_, i) => newChoice(i));
  for await (const { index, event } of run) addEvent(choices[index], event);
  for (const c of choices) if (c.done?.error) throw deserializeError(c.done.error);
  return choices;
}

export function usageOf(promptTokens: number, choices: readonly { done: DoneEvent | null }[]) {
  const completion = choices.reduce((sum, c) => sum + (c.done?.completionTokens ?? 0), 0);
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion, ...usageExtensions(choices.map((c) => c.done)) };
}
