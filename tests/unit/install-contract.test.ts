import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

/**
 * What `npm ci` checks, read from the lockfile, so an install stays free of warnings on the Node versions users run:
 * every package's engines allow Node 22 and 24 and, but for the few listed, Node 20 (else EBADENGINE), and every
 * package with an install script is named in allowScripts (else npm >= 11.19 skips it and warns). onnxruntime-node's
 * script (a CUDA download from NuGet) is denied; ONNXRUNTIME_NODE_INSTALL=skip does the same for older npm, which
 * ignores allowScripts.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
interface Locked {
  version?: string;
  engines?: { node?: string };
  hasInstallScript?: boolean;
  optional?: boolean;
}
/** Packages npm installs here: optional ones for other platforms (wasm32 bindings and their runtime) it skips. */
const packages = Object.entries(lock.packages as Record<string, Locked>).filter(([path, p]) => path !== '' && (!p.optional || existsSync(join(ROOT, path))));
/** The oldest releases of each line the toolchain supports (vite: ^20.19 || >=22.12). */
const NODES = ['20.19.0', '22.12.0', '24.0.0'];
/**
 * Packages that declare Node >= 22 while every suite passes on Node 20 (CI runs them there): `npm ci` on Node 20
 * prints EBADENGINE for exactly these. content-disposition 3 comes with @fastify/static 10.1.4+ (the playground's
 * static files), whose path checks are not worth giving up for an older version; kubernetes-models 5 and its parts
 * are dev dependencies of the deploy manifests' tests. A package joining or leaving this list fails the test.
 */
const NODE_22_ONLY = ['@kubernetes-models/apimachinery', '@kubernetes-models/base', '@kubernetes-models/validate', 'content-disposition', 'kubernetes-models'];

describe('the install', () => {
  it('engines say >= 20; every locked package allows Node 22 and 24, and Node 20 but for the ones listed', () => {
    expect(pkg.engines.node).toBe('>=20');
    const refusing = (version: string) =>
      packages.filter(([, p]) => p.engines?.node && !semver.satisfies(version, p.engines.node)).map(([path]) => path.replace(/^.*node_modules\//, ''));
    expect(refusing(NODES[1])).toEqual([]);
    expect(refusing(NODES[2])).toEqual([]);
    expect([...new Set(refusing(NODES[0]))].sort()).toEqual(NODE_22_ONLY);
  });

  it('every install script is decided in allowScripts; onnxruntime-node\'s CUDA download is denied', () => {
    const scripts = packages.filter(([, p]) => p.hasInstallScript).map(([path]) => path.replace(/^.*node_modules\//, ''));
    expect(scripts.filter((name) => !(name in pkg.allowScripts))).toEqual([]);
    expect(pkg.allowScripts['onnxruntime-node']).toBe(false);
  });

  it('no project .npmrc key npm no longer knows; CI and the images set ONNXRUNTIME_NODE_INSTALL, CI also runs Node 24', () => {
    expect(() => readFileSync(join(ROOT, '.npmrc'), 'utf8')).toThrow();
    const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    expect(ci).toMatch(/node@24/);
    const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(docker).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    expect(docker.match(/^FROM node:\S+/gm)!.every((l) => l.startsWith('FROM node:24'))).toBe(true);
  });
});
