import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export interface Manifest {
  /** Path relative to the folder that was read. */
  file: string;
  object: Json;
}

/** Custom resources whose models come from an @kubernetes-models package. */
const CRD_PACKAGES: Record<string, string> = { 'monitoring.coreos.com': '@kubernetes-models/prometheus-operator' };

/** Every .yaml/.yml file under `dir`, relative, sorted. */
export function yamlFilesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? yamlFilesUnder(dir, join(prefix, e.name)) : /\.ya?ml$/.test(e.name) ? [join(prefix, e.name)] : []))
    .sort();
}

/** The YAML documents of a file; a syntax error throws, naming the file. */
export function readManifests(dir: string, file: string): Manifest[] {
  return parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return { file, object: doc.toJSON() as Json };
  });
}

/**
 * The module of the kubernetes-models class for an apiVersion and kind ('apps/v1', 'Deployment' →
 * 'kubernetes-models/apps/v1/Deployment'); null for kinds no package models (Kustomization).
 */
export function modelModule(apiVersion: string, kind: string): string | null {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  if (CRD_PACKAGES[group]) return `${CRD_PACKAGES[group]}/${apiVersion}/${kind}`;
  if (group.endsWith('.config.k8s.io')) return null; // kustomize's own files are not API objects
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Validates against the package's JSON schema (types, required fields, enums, formats); throws its errors. */
export async function validateSchema(object: Json): Promise<void> {
  const spec = modelModule(object.apiVersion, object.kind);
  if (!spec) throw new Error(`no model for ${object.apiVersion} ${object.kind}`);
  const mod = (await import(spec)) as Record<string, new (o: Json) => { validate(): void }>;
  const Model = mod[object.kind];
  if (!Model) throw new Error(`${spec} has no class ${object.kind}`);
  new Model(object).validate();
}

/**
 * Fields the API does not know (a misspelled `readinesProbe` passes the JSON schemas, which allow extra fields,
 * and the API server would drop it): each object is type-checked as an object literal of the package's
 * TypeScript interface, whose excess-property check names every unknown field. `resolveFrom` is a directory
 * whose node_modules hold the packages. Returns one message per problem, naming the manifest.
 */
export function unknownFieldErrors(manifests: Manifest[], resolveFrom: string): string[] {
  const file = join(resolveFrom, '__k8s_manifests__.ts');
  const lines = manifests.map((m, i) => `import type { I${m.object.kind} as T${i} } from '${modelModule(m.object.apiVersion, m.object.kind)}';`);
  const first = lines.length;
  lines.push(...manifests.map((m, i) => `export const m${i}: T${i} = ${JSON.stringify(m.object)};`));
  const source = lines.join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile.call(host, name, lang, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const m = manifests[line - first] ?? manifests[line];
    const where = m ? `${m.file} (${m.object.kind} ${m.object.metadata?.name ?? ''})` : 'manifest check';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
