/** Per-request sampling knobs, already mapped from the API's conventions. */
export interface SamplingParams {
  /** 0 means greedy (argmax); default 1. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 disables (the API's -1 is mapped to 0). */
  topK: number;
  /** Nucleus mass in (0, 1]; 1 disables. */
  topP: number;
  /** In [0, 1]: drop tokens with p < minP * p_max; 0 disables. */
  minP: number;
  /** > 0; 1 disables. HF/vLLM semantics over prompt AND generated tokens. */
  repetitionPenalty: number;
  /** In [-2, 2]; OpenAI semantics over generated tokens only. */
  presencePenalty: number;
  /** In [-2, 2]; OpenAI semantics over generated tokens only. */
  frequencyPenalty: number;
  /** Token id -> bias added to its logit; null when none. */
  logitBias: ReadonlyMap<number, number> | null;
}

/** Neutral settings: plain sampling from the model's distribution. Frozen; spread to override. */
export const DEFAULT_SAMPLING: SamplingParams = Object.freeze({
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  logitBias: null,
});
