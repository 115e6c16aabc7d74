import { UnirError } from '../common/errors.js';
import { entropy } from '../kernels/entropy.js';
import type { RunRow } from '../models/decoder-runner.js';
import type { ModelRunner } from './model-runner.js';

/**
 * Entropy gating of reasoning modules with lazy KV catch-up.
 *
 * A gated sequence runs its modules only at steps where the entropy of the base's own next-token distribution,
 * H = -Σ p_i ln p_i over softmax(base logits) in nats, is at least the threshold. At a closed step no module runs
 * and the fused logits are the base's. A module that missed tokens is fed all of them (prompt included: a gated
 * module skips the prefill too) in one chunked run the next time its gate opens, so its KV cache holds every token
 * and its logits at an open step are the ones it would give had it run at every step (up to the float rounding of
 * a multi-token run). Tokens after the last open step are never fed.
 *
 * The idea follows the finding that fine-tuning for reasoning changes the output distribution mostly at a few
 * high-entropy positions (Nudging, Fei et al. 2024: under 9% of tokens need the aligned model).
 */

/** Per-sequence gate: the threshold, how far each module's cache has been fed, and what was skipped. */
export class GateState {
  /** Module key (version id) to the number of the sequence's tokens (prompt + generated) in its cache. */
  private readonly fed = new Map<number, number>();
  /** Module runs the sequence needed (one per module per sampled token) and those the gate skipped. */
  moduleSteps = 0;
  skipped = 0;
  /** Tokens fed to modules in catch-up runs (the token of the step itself included). */
  caughtUp = 0;

  constructor(readonly threshold: number) {}

  /** Open when the base's entropy reaches the threshold (NaN, a broken row, opens it: checks downstream see it). */
  opens(baseEntropy: number): boolean {
    return !(baseEntropy < this.threshold);
  }

  fedCount(key: number): number {
    return this.fed.get(key) ?? 0;
  }

  markFed(key: number, count: number): void {
    this.caughtUp += count - this.fedCount(key);
    this.fed.set(key, count);
  }
}

/** A sequence about to sample whose modules are gated: its tokens so far and the base's row for this step. */
export interface GateCandidate {
  seqId: number;
  gate: GateState;
  /** Module keys of the sequence (version ids), in fusion order. */
  moduleKeys: readonly number[];
  /** Prompt + generated tokens; the base has just been fed all of them. */
  tokens: () => Int32Array;
  tokenCount: number;
  baseRow: Float32Array;
}

/** Per candidate: the base's entropy, and each open module's logits row (absent when the gate was closed). */
export interface GateDecision {
  baseEntropy: number;
  open: boolean;
  rows: Map<number, Float32Array>;
}

export interface GateOutcome {
  decisions: Map<number, GateDecision>;
  /** Sequences whose module run failed, with the error (their other modules' rows are not used). */
  failed: Map<number, UnirError>;
}

/**
 * Decides each candidate's gate from the base's row and runs the open modules' catch-up: per module, rows of
 * equal length share one run (the decoder runner needs equal appends for rows with a cache), split into pieces
 * of at most `chunk` tokens (0: one piece) run one after another. Modules run concurrently (their own workers).
 */
export async function runGatedModules(
  candidates: readonly GateCandidate[],
  modules: ReadonlyMap<number, ModelRunner>,
  chunk: number,
): Promise<GateOutcome> {
  const decisions = new Map<number, GateDecision>();
  const work = new Map<number, Map<number, GateCandidate[]>>();
  for (const c of candidates) {
    const baseEntropy = entropy(c.baseRow);
    const open = c.gate.opens(baseEntropy);
    decisions.set(c.seqId, { baseEntropy, open, rows: new Map() });
    c.gate.moduleSteps += c.moduleKeys.length;
    if (!open) {
      c.gate.skipped += c.moduleKeys.length;
      continue;
    }
    for (const key of c.moduleKeys) {
      const byLength = work.get(key) ?? work.set(key, new Map()).get(key)!;
      const length = c.tokenCount - c.gate.fedCount(key);
      (byLength.get(length) ?? byLength.set(length, []).get(length)!).push(c);
    }
  }
  const failed = new Map<number, UnirError>();
  await Promise.all(
    [...work].map(async ([key, byLength]) => {
      const runner = modules.get(key);
      for (const [length, group] of byLength) {
        try {
          if (!runner) throw new UnirError('reasoner_not_found', `reasoning module version ${key} is not attached`);
          const logits = await catchUp(runner, group, key, length, chunk);
          group.forEach((c, r) => {
            decisions.get(c.seqId)!.rows.set(key, logits.data.subarray(r * logits.vocab, (r + 1) * logits.vocab));
            c.gate.markFed(key, c.tokenCount);
          });
        } catch (err) {
          const e = err instanceof UnirError ? err : new UnirError('model_failed', String(err));
          for (const c of group) if (!failed.has(c.seqId)) failed.set(c.seqId, e);
        }
      }
    }),
  );
  return { decisions, failed };
}

/** Feeds each row's missing tokens (the last `length` of its tokens) in pieces; the last piece's logits count. */
async function catchUp(runner: ModelRunner, group: GateCandidate[], key: number, length: number, chunk: number) {
  const piece = chunk > 0 ? chunk : length;
  const all = group.map((c) => c.tokens().subarray(c.gate.fedCount(key)));
  let logits = null;
  for (let start = 0; start < length; start += piece) {
    const rows: RunRow[] = group.map((c, r) => ({ seqId: c.seqId, tokens: all[r].slice(start, Math.min(length, start + piece)) }));
    logits = await runner.run(rows);
  }
  return logits!;
}
