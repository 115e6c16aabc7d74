import { describe, expect, it } from 'vitest';
import { attributeToken } from '../../../kernels/token-attribution.js';

describe('attributeToken', () => {
  const base = Float32Array.of(0, 2, 1, 0);
  it('weight x logit at the chosen and the base top token; a padded module row is cut to the base vocabulary', () => {
    const padded = Float32Array.of(0, -1, 3, 0, 50, 50); // ids 4 and 5 are padding: never the fused top
    const a = attributeToken(base, [{ versionId: 7, weight: 0.5, row: padded }], 2, new Float32Array(4));
    // fused = [0, 1.5, 2.5, 0]
    expect(a.baseTop.id).toBe(1);
    expect(a.baseTop.logprob).toBeCloseTo(2 - Math.log(2 + Math.exp(2) + Math.exp(1)), 6);
    expect(a.fusedTop.id).toBe(2);
    expect(a.fusedTop.logprob).toBeCloseTo(2.5 - Math.log(2 + Math.exp(1.5) + Math.exp(2.5)), 6);
    expect(a.modules).toEqual([{ versionId: 7, weight: 0.5, chosen: 1.5, baseTop: -0.5, skipped: false }]);
  });

  it('a short row contributes 0 past its end, weight 0 contributes 0 (even against Infinity), a skipped module 0', () => {
    const a = attributeToken(
      base,
      [
        { versionId: 1, weight: 1, row: Float32Array.of(1) },
        { versionId: 2, weight: 0, row: Float32Array.of(Infinity, Infinity, Infinity, Infinity) },
        { versionId: 3, weight: 2, row: null },
      ],
      3,
      new Float32Array(4),
    );
    expect(a.modules.map((m) => [m.chosen, m.baseTop, m.skipped])).toEqual([[0, 0, false], [0, 0, false], [0, 0, true]]);
    expect(a.fusedTop.id).toBe(1);
    expect(a.baseEntropy).toBeGreaterThan(0);
  });
});

describe('attributeToken agrees with the separate kernels', () => {
  it('base entropy equals kernels/entropy.ts; logprobs equal logSoftmaxStats', async () => {
    const { entropy } = await import('../../../kernels/entropy.js');
    const { logSoftmaxStats } = await import('../../../kernels/logprobs.js');
    const row = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i * 0.37) * 6 - (i % 7));
    const a = attributeToken(row, [], 0, new Float32Array(1000));
    expect(a.baseEntropy).toBeCloseTo(entropy(row), 10);
    expect(a.baseTop.logprob).toBeCloseTo(row[a.baseTop.id] - logSoftmaxStats(row).logSumExp, 10);
    expect(a.fusedTop).toEqual(a.baseTop);
  });
});
