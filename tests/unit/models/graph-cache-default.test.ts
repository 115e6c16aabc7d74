import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultGraphCacheDir } from '../../../models/logits-graph-cache.js';

describe('defaultGraphCacheDir', () => {
  it('follows XDG_CACHE_HOME, else ~/.cache', () => {
    expect(defaultGraphCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/unir-serve/graphs');
    expect(defaultGraphCacheDir({})).toBe(join(homedir(), '.cache', 'unir-serve', 'graphs'));
  });

  it('in the test run is a temporary directory, so loads in tests never write into the user\'s ~/.cache', () => {
    const dir = defaultGraphCacheDir();
    expect(dir.startsWith(join(homedir(), '.cache'))).toBe(false);
    expect(dir.startsWith(tmpdir())).toBe(true);
  });
});
