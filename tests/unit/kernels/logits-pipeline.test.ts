import { describe, it, expect } from 'vitest';
import { commitToken, createPenaltyState, processLogits } from '../../../kernels/logits-pipeline.js';
import { DEFAULT_SAMPLING, type SamplingParams } from '../../../kernels/sampling-params.js';

describe('penalty state', () => {
  it('seen covers prompt and generated ids; counts only generated ones', () => {
    const state = createPenaltyState(new Int32Array([4, 4, 9]));
    expect([...state.seen].sort((a, b) => a - b)).toEqual([4, 9]);
    expect(state.counts.size).toBe(0);
    commitToken(state, 9);
    commitToken(state, 2);
    commitToken(state, 9);
    expect([...state.seen].sort((a, b) => a - b)).toEqual([2, 4, 9]);
    expect(state.counts.get(9)).toBe(2);
    expect(state.counts.get(2)).toBe(1);
    expect(state.counts.has(4)).toBe(false);
  });
});

describe('processLogits', () => {
  it('applies bias, suppression, repetition, then presence/frequency', () => {
    const state = createPenaltyState(new Int32Array([0, 3]));
    commitToken(state, 2);
    commitToken(state, 2);
    const params: SamplingParams = {
      ...DEFAULT_SAMPLING,
      logitBias: new Map([[0, 2], [1, 100]]),
      repetitionPenalty: 2,
      presencePenalty: 0.5,
      frequencyPenalty: 0.25,
    };
    const logits = new Float32Array([-1, 3, 0.5, 2]);
    processLogits(logits, params, state, [1]);
    // id0: -1 + 2 = 1, seen in prompt -> 1 / 2 = 0.5   (penalty before bias would give 0)
    // id1: 3 + 100, then suppressed -> -Infinity        (bias cannot revive it)
    // id2: 0.5 seen -> 0.25, then - (0.5 + 0.25 * 2) = -0.75
    //      (presence/frequency before repetition would give (0.5 - 1) * 2 = -1)
    // id3: 2 seen in prompt -> 1; never generated, so no presence penalty
    expect(Array.from(logits)).toEqual([0.5, -Infinity, -0.75, 1]);
  });

  it('leaves logits bit-identical under the default parameters', () => {
    const state = createPenaltyState(new Int32Array([0, 1]));
    commitToken(state, 1);
    const logits = new Float32Array([-0, 1.5, -2.25, NaN]);
    const before = new Uint32Array(logits.slice().buffer);
    processLogits(logits, DEFAULT_SAMPLING, state, null);
    expect(new Uint32Array(logits.buffer)).toEqual(before);
  });
});
