import { describe, expect, it } from 'vitest';
import { parseServerOptions } from '../../../server/options.js';

describe('--reasoner-gate', () => {
  const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseServerOptions(['--model', 'm', ...args], env);
  it('is a non-negative number of nats, from the flag or UNIR_REASONER_GATE; unset by default', () => {
    expect(parse([]).reasonerGate).toBeNull();
    expect(parse(['--reasoner-gate', '0.25']).reasonerGate).toBe(0.25);
    expect(parse([], { UNIR_REASONER_GATE: '1e-2' }).reasonerGate).toBe(0.01);
    expect(parse(['--reasoner-gate', '0.5'], { UNIR_REASONER_GATE: '3' }).reasonerGate).toBe(0.5);
  });
  it('refuses what is not a non-negative number, naming the flag', () => {
    expect(() => parse(['--reasoner-gate', '0.5', '--fusion-site', 'device'])).toThrow(/--reasoner-gate .* --fusion-site device/);
    for (const bad of ['-1', 'abc', '', 'Infinity']) expect(() => parse([`--reasoner-gate=${bad}`])).toThrow(/--reasoner-gate: expected a non-negative number/);
  });
});
