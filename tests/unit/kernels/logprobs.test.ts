import { describe, it, expect } from 'vitest';
import { logSoftmaxStats, tokenLogprob, topLogprobs } from '../../../kernels/logprobs.js';

describe('logprobs', () => {
  it('matches a hand-computed log-softmax', () => {
    const row = new Float32Array([1, 2, 3]);
    // logSumExp = 3 + ln(1 + e^-1 + e^-2) = 3 + ln(1.5032147) = 3.4076060
    const stats = logSoftmaxStats(row);
    expect(stats.max).toBe(3);
    expect(stats.logSumExp).toBeCloseTo(3.407606, 6);
    expect(tokenLogprob(row, stats, 0)).toBeCloseTo(-2.407606, 6);
    expect(tokenLogprob(row, stats, 1)).toBeCloseTo(-1.407606, 6);
    expect(tokenLogprob(row, stats, 2)).toBeCloseTo(-0.407606, 6);
  });

  it('stays finite for large logits', () => {
    const row = new Float32Array([1000, 1000]);
    const stats = logSoftmaxStats(row);
    expect(stats.logSumExp).toBeCloseTo(1000 + Math.LN2, 9);
    expect(tokenLogprob(row, stats, 1)).toBeCloseTo(-Math.LN2, 9);
  });

  it('ignores masked entries in the normalizer', () => {
    const row = new Float32Array([0, -Infinity, 0, 0, 0]);
    const stats = logSoftmaxStats(row);
    expect(stats.logSumExp).toBeCloseTo(Math.log(4), 12); // four tokens of weight 1
    expect(tokenLogprob(row, stats, 1)).toBe(-Infinity);
  });

  it('lists the top n, most likely first, ties to the lower id', () => {
    const row = new Float32Array([1, 3, 2, 3]);
    // logSumExp = 3 + ln(e^-2 + 1 + e^-1 + 1) = 3 + ln(2.5032147) = 3.9175758
    const stats = logSoftmaxStats(row);
    const top = topLogprobs(row, stats, 3);
    expect(top.map((t) => t.id)).toEqual([1, 3, 2]);
    expect(top[0].logprob).toBeCloseTo(-0.9175758, 6);
    expect(top[1].logprob).toBeCloseTo(-0.9175758, 6);
    expect(top[2].logprob).toBeCloseTo(-1.9175758, 6);
    expect(topLogprobs(row, stats, 0)).toEqual([]);
    expect(topLogprobs(row, stats, 20)).toHaveLength(4);
  });
});
