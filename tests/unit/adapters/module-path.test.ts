import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInside, resolveModulePath } from '../../../adapters/module-path.js';

let base: string;
let root: string;
let outside: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'unir-path-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(join(root, 'a', 'onnx'), { recursive: true });
  mkdirSync(join(root, 'group', 'b'), { recursive: true });
  mkdirSync(join(root, 'leaky', 'onnx'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(root, 'file.txt'), 'x');
  writeFileSync(join(outside, 'model.onnx'), 'x');
  symlinkSync(join(root, 'a'), join(root, 'alias')); // a link that stays inside
  symlinkSync(outside, join(root, 'out')); // a directory link out
  symlinkSync(join(outside, 'model.onnx'), join(root, 'leaky', 'onnx', 'model.onnx')); // a file link out
  mkdirSync(join(root, 'c'));
  symlinkSync(base, join(root, 'c', 'parent')); // a directory link out, inside the module
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const refused = async (path: string, code: string) => expect(resolveModulePath(root, path)).rejects.toMatchObject({ code, param: 'path' });

describe('resolveModulePath', () => {
  it('resolves relative and absolute paths inside the root', async () => {
    await expect(resolveModulePath(root, 'group/b')).resolves.toBe(join(root, 'group', 'b'));
    await expect(resolveModulePath(root, join(root, 'group', 'b'))).resolves.toBe(join(root, 'group', 'b'));
    await expect(resolveModulePath(root, './group/../group/b/')).resolves.toBe(join(root, 'group', 'b'));
  });

  it('follows a symbolic link that stays inside the root', async () => {
    await expect(resolveModulePath(root, 'alias')).resolves.toBe(join(root, 'a'));
  });

  it('refuses .., absolute paths elsewhere, and links out (of the directory or of a file in it)', async () => {
    await refused('..', 'path_outside_root');
    await refused('../outside', 'path_outside_root');
    await refused('group/../../outside', 'path_outside_root');
    await refused(outside, 'path_outside_root');
    await refused('/etc', 'path_outside_root');
    await refused('out', 'path_outside_root');
    await refused('leaky', 'path_outside_root');
    await refused('c', 'path_outside_root');
  });

  it('refuses the root itself, a file, a missing directory, a NUL byte', async () => {
    await refused('.', 'invalid_request');
    await refused('file.txt', 'invalid_model_dir');
    await refused('nothing', 'invalid_model_dir');
    await refused('a\0b', 'invalid_request');
  });

  it('without a root, says to start with --reasoners-dir', async () => {
    await expect(resolveModulePath(null, 'a')).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/--reasoners-dir/) });
  });
});

describe('isInside', () => {
  it('compares whole path segments', () => {
    expect(isInside('/m/root', '/m/root')).toBe(true);
    expect(isInside('/m/root', '/m/root/a/b')).toBe(true);
    expect(isInside('/m/root', '/m/rootkit')).toBe(false);
    expect(isInside('/m/root', '/m')).toBe(false);
    expect(isInside('/m/root', '/m/root/..foo')).toBe(true);
  });
});
