import type { Sequence } from './sequence.js';

export interface PrefillWork {
  seq: Sequence;
  tokens: Int32Array;
}

/**
 * Chooses this step's prefill: the next chunk of the oldest prompt in progress, alone; or, when the oldest
 * has not started, as many whole fresh prompts as fit the chunk budget, left-padded into one run.
 * A chunk budget of 0 prefills whole prompts at once (no chunking).
 */
export function planPrefill(prefilling: readonly Sequence[], chunk: number): PrefillWork[] {
  const budget = chunk > 0 ? chunk : Number.POSITIVE_INFINITY;
  const first = prefilling.find((s) => !s.cancelled);
  if (!first) return [];
  const remaining = (s: Sequence) => s.promptLength - s.prefilled;
  const rest = (s: Sequence, n: number) => s.request.promptIds.subarray(s.prefilled, s.prefilled + n);
  if (first.prefilled > 0 || remaining(first) > budget) {
    return [{ seq: first, tokens: rest(first, Math.min(budget, remaining(first))) }];
  }
  const group: PrefillWork[] = [];
  let longest = 0;
  for (const seq of prefilling) {
    if (seq.cancelled) continue;
    if (seq.prefilled > 0) break;
    const len = remaining(seq);
    // Left padding makes the run cost rows × longest prompt.
    if (group.length > 0 && Math.max(longest, len) * (group.length + 1) > budget) break;
    longest = Math.max(longest, len);
    group.push({ seq, tokens: rest(seq, len) });
  }
  return group;
}
