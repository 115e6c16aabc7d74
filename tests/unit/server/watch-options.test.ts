import { describe, expect, it } from 'vitest';
import { parseServerOptions, watchesModulesRoot } from '../../../server/options.js';

const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseServerOptions(['--model', 'm', ...args], env);
const root = ['--reasoners-dir', '/modules'];

describe('--watch / --watch-poll', () => {
  it('--watch-poll takes seconds (fractions too), from the flag or UNIR_WATCH_POLL, and implies watching', () => {
    expect(parse([...root, '--watch-poll', '0.5']).watchPoll).toBe(0.5);
    expect(parse(root, { UNIR_WATCH_POLL: '2' }).watchPoll).toBe(2);
    expect(watchesModulesRoot(parse([...root, '--watch-poll', '3']))).toBe(true);
    expect(watchesModulesRoot(parse([...root, '--watch']))).toBe(true);
    expect(watchesModulesRoot(parse([]))).toBe(false);
    expect(parse([]).watchPoll).toBeNull();
  });

  it('refuses a poll interval that is not a number of seconds from 0.1 to 2147483, naming the flag', () => {
    // Beyond 2147483 s Node.js fires a timer after 1 ms (TimeoutOverflowWarning): a "daily" poll would run
    // back to back; below 0.1 s polling is a busy loop over the root.
    for (const bad of ['0', '-1', 'soon', '', 'Infinity', '3000000', '2147484', '1e-9', '0.09']) {
      expect(() => parse([...root, `--watch-poll=${bad}`]), bad).toThrow(/--watch-poll: expected a number of seconds from 0.1 to 2147483/);
    }
    expect(parse([...root, '--watch-poll', '0.1']).watchPoll).toBe(0.1);
    expect(parse([...root, '--watch-poll', '2147483']).watchPoll).toBe(2147483);
  });

  it('refuses --watch and --watch-poll without --reasoners-dir: nothing to follow, yet the admin API would be locked', () => {
    for (const args of [['--watch'], ['--watch-poll', '2']]) {
      expect(() => parse(args), args[0]).toThrow(/--watch and --watch-poll need --reasoners-dir DIR/);
    }
    expect(() => parse([], { UNIR_WATCH: '1' })).toThrow(/need --reasoners-dir/);
  });
});
