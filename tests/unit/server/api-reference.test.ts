import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderApiReference } from '../../../scripts/api-reference.js';

describe('docs/api-reference.md', () => {
  it('is what the route schemas and the CLI table produce now (run `npm run docs` after changing them)', async () => {
    expect(readFileSync('docs/api-reference.md', 'utf8')).toBe(await renderApiReference());
  });
});
