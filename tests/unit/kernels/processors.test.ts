import { describe, it, expect } from 'vitest';
import { applyLogitBias } from '../../../kernels/logit-bias.js';
import { applyRepetitionPenalty } from '../../../kernels/repetition-penalty.js';
import { applyPresenceFrequencyPenalty } from '../../../kernels/presence-frequency-penalty.js';
import { suppressTokens } from '../../../kernels/suppress-tokens.js';
import { applyTemperature } from '../../../kernels/temperature.js';

const row = (...values: number[]) => new Float32Array(values);

describe('applyLogitBias', () => {
  it('adds the bias to listed ids and ignores ids outside the row', () => {
    const logits = row(0, 1, 2);
    applyLogitBias(logits, new Map([[0, 5], [2, -100], [7, 3], [-1, 1], [1.5, 1]]));
    expect(Array.from(logits)).toEqual([5, 1, -98]); // 0+5, untouched, 2-100
  });
});

describe('applyRepetitionPenalty', () => {
  it('divides positive logits and multiplies the others (penalty > 1 discourages)', () => {
    const logits = row(2, -2, 0, 1, 3);
    applyRepetitionPenalty(logits, new Set([0, 1, 2]), 2);
    // 2/2, -2*2, 0*2, unseen, unseen
    expect(Array.from(logits)).toEqual([1, -4, 0, 1, 3]);
  });

  it('penalty < 1 encourages: positive logits grow, negative shrink toward 0', () => {
    const logits = row(2, -2, 1);
    applyRepetitionPenalty(logits, new Set([0, 1, 99]), 0.5);
    expect(Array.from(logits)).toEqual([4, -1, 1]); // 2/0.5, -2*0.5, unseen
  });

  it('penalty 1 is a no-op; penalty <= 0 is rejected', () => {
    const logits = row(2, -2);
    applyRepetitionPenalty(logits, new Set([0, 1]), 1);
    expect(Array.from(logits)).toEqual([2, -2]);
    expect(() => applyRepetitionPenalty(logits, new Set([0]), 0)).toThrow(RangeError);
  });
});

describe('applyPresenceFrequencyPenalty', () => {
  it('subtracts presence once and frequency per occurrence', () => {
    const logits = row(1, 1, 1, 1);
    applyPresenceFrequencyPenalty(logits, new Map([[0, 2], [2, 1], [3, 0]]), 0.5, 0.25);
    // id0: 1 - (0.5 + 0.25*2) = 0; id1 unseen; id2: 1 - (0.5 + 0.25) = 0.25; id3 count 0
    expect(Array.from(logits)).toEqual([0, 1, 0.25, 1]);
  });

  it('negative penalties encourage repetition', () => {
    const logits = row(1, 1);
    applyPresenceFrequencyPenalty(logits, new Map([[1, 3]]), -1, -0.5);
    expect(Array.from(logits)).toEqual([1, 3.5]); // 1 + 1 + 0.5*3
  });
});

describe('suppressTokens', () => {
  it('sets listed ids to -Infinity', () => {
    const logits = row(1, 2, 3);
    suppressTokens(logits, [1, 9]);
    expect(Array.from(logits)).toEqual([1, -Infinity, 3]);
  });
});

describe('applyTemperature', () => {
  it('divides by the temperature', () => {
    const sharp = row(2, -1, 0);
    applyTemperature(sharp, 0.5);
    expect(Array.from(sharp)).toEqual([4, -2, 0]);
    const flat = row(2, -1, 0);
    applyTemperature(flat, 2);
    expect(Array.from(flat)).toEqual([1, -0.5, 0]);
  });

  it('rejects temperature 0 (greedy is the sampler\'s job) and negatives', () => {
    expect(() => applyTemperature(row(1), 0)).toThrow(RangeError);
    expect(() => applyTemperature(row(1), -1)).toThrow(RangeError);
  });
});
