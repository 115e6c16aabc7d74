import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { comparePyTorch } from '../../../scripts/pytorch-agreement.js';

/** npm run eval's check of its HTTP accuracies (%) against the training scripts' PyTorch fractions. */
const dir = mkdtempSync(join(tmpdir(), 'unir-pytorch-agreement-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const json = join(dir, 'python-eval.json');
writeFileSync(json, JSON.stringify({ accuracy: { base: { add: 0.885, sort: 0, mixed: 0.415 } } }));
const row = (add: number) => ({ label: 'base alone', scores: { add, sort: 0, mixed: 41.5 } });

describe('comparePyTorch', () => {
  it('matches when every set has the same share of correct problems', () => {
    const r = comparePyTorch([row(88.5)], json, { 'base alone': 'base' }, 200);
    expect(r).toEqual({ matches: true, lines: ['base alone: HTTP / PyTorch add 88.5% / 88.5%, sort 0.0% / 0.0%, mixed 41.5% / 41.5%: matches PyTorch'] });
  });

  it('differs when one set is one problem in 200 away', () => {
    const r = comparePyTorch([row(89)], json, { 'base alone': 'base' }, 200);
    expect(r.matches).toBe(false);
    expect(r.lines[0]).toMatch(/add 89\.0% \/ 88\.5%.*DIFFERS from PyTorch$/);
  });

  it('leaves out rows it has no figure for, and runs over another number of problems', () => {
    expect(comparePyTorch([row(0), { ...row(0), label: 'other' }], json, { 'base alone': 'nope' }, 200)).toEqual({
      matches: true,
      lines: [`base alone: not compared (${json} has no "nope")`],
    });
    expect(comparePyTorch([row(88.5)], json, { 'base alone': 'base' }, 50)).toEqual({
      matches: false,
      lines: ['PyTorch figures not compared: they are over 200 problems per set, this run over 50'],
    });
    expect(comparePyTorch([row(88.5)], join(dir, 'absent.json'), {}, 200).matches).toBe(false);
  });
});
