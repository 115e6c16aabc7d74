import { describe, expect, it } from 'vitest';
import { parseServerOptions, watchesModulesRoot } from '../../../server/options.js';

const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseServerOptions(['--model', 'm', ...args], env);

describe('--watch / --watch-poll', () => {
  it('--watch-poll takes seconds (fractions too), from the flag or UNIR_WATCH_POLL, and implies watching', () => {
    expect(parse(['--watch-poll', '0.5']).watchPoll).toBe(0.5);
    expect(parse([], { UNIR_WATCH_POLL: '2' }).watchPoll).toBe(2);
    expect(watchesModulesRoot(parse(['--watch-poll', '3']))).toBe(true);
    expect(watchesModulesRoot(parse(['--watch']))).toBe(true);
    expect(watchesModulesRoot(parse([]))).toBe(false);
    expect(parse([]).watchPoll).toBeNull();
  });

  it('refuses a poll interval that is not a positive number, naming the flag', () => {
    for (const bad of ['0', '-1', 'soon', '', 'Infinity']) {
      expect(() => parse([`--watch-poll=${bad}`])).toThrow(/--watch-poll: expected a positive number of seconds/);
    }
  });
});
