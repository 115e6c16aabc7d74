import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentHash } from '../../../adapters/content-hash.js';
import { REASONERS } from '../../helpers/fixtures.js';

let dir: string;
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'unir-hash-')), 'm');
  cpSync(join(REASONERS, 'r1'), dir, { recursive: true });
  mkdirSync(join(dir, 'onnx', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'onnx', 'deep', 'weights data.bin'), Buffer.from([0, 1, 2, 255]));
  writeFileSync(join(dir, 'Zeta.txt'), 'capital letters sort first in byte order');
  symlinkSync('config.json', join(dir, 'linked.json'));
});
afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

/** The shell pipeline the docstring and docs/admin-api.md give. */
const shellHash = () =>
  `sha256:${execFileSync('bash', ['-c', 'find -L . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString().split(' ')[0]}`;

describe('contentHash', () => {
  it('is the sha256 of the sorted sha256sum listing, as the documented shell pipeline computes it', async () => {
    const hash = await contentHash(dir);
    expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(hash).toBe(shellHash());
  });

  it('changes with one byte or a renamed file, not with file times', async () => {
    const before = await contentHash(dir);
    utimesSync(join(dir, 'model.onnx'), new Date(0), new Date(0));
    expect(await contentHash(dir)).toBe(before);
    appendFileSync(join(dir, 'onnx', 'deep', 'weights data.bin'), Buffer.from([7]));
    const changed = await contentHash(dir);
    expect(changed).not.toBe(before);
    expect(changed).toBe(shellHash());
    cpSync(join(dir, 'Zeta.txt'), join(dir, 'zeta.txt'));
    rmSync(join(dir, 'Zeta.txt'));
    expect(await contentHash(dir)).not.toBe(changed);
  });

  it('follows links as find -L does: a link loop is not followed round, a dangling link is no file, no depth limit', async () => {
    // Two links back to the module's own directory: followed round they would make 2^depth copies of every file.
    symlinkSync('.', join(dir, 'loop'));
    symlinkSync('..', join(dir, 'onnx', 'deep', 'back'));
    symlinkSync('missing.bin', join(dir, 'dangling'));
    const deep = join(dir, ...Array.from({ length: 12 }, (_, i) => `d${i}`));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'leaf.bin'), 'twelve levels down');
    expect(await contentHash(dir)).toBe(shellHash());
  });
});
