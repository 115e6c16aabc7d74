import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, MHA } from './fixtures.js';

/** The chaos suite's model fixtures (training/make_hostile_fixtures.py). */
export const HOSTILE = join(FIXTURES, 'hostile');
export const NAN_MODULE = join(HOSTILE, 'nan-module');
export const INF_MODULE = join(HOSTILE, 'inf-module');
export const WRONG_KV_MODULE = join(HOSTILE, 'wrong-kv-module');
/** A base whose logits are NaN for a row whose input holds POISON_TEXT. */
export const NAN_BASE = join(HOSTILE, 'nan-base');
export const POISON_TEXT = '@';

/** A fresh modules root (mkdtemp) holding copies of the given module directories, by their directory names. */
export function modulesRoot(modules: Record<string, string>): { root: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'unir-chaos-'));
  for (const [name, from] of Object.entries(modules)) cpSync(from, join(root, name), { recursive: true });
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** Rewrites fields of a module copy's unir.json. */
export function editManifest(dir: string, fields: Record<string, unknown>): void {
  const path = join(dir, 'unir.json');
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), ...fields }));
}

/** A copy of the fixture base (mkdtemp) whose config.json allows `positions` positions of context. */
export function longContextBase(positions: number): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'unir-chaos-context-'));
  cpSync(MHA, dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: positions }));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Rewrites a module copy's model.onnx so that its `logits` output is cast to another ONNX element type (7: int64,
 * 8: string, 9: bool): a graph that still runs and still has the right shape, but whose logits are not floats.
 */
export function castLogits(dir: string, elemType: number): void {
  const { onnx } = onnxProto;
  const path = join(dir, 'model.onnx');
  const model = onnx.ModelProto.decode(readFileSync(path));
  const graph = model.graph!;
  for (const node of graph.node!) node.output = node.output!.map((o) => (o === 'logits' ? 'logits_float' : o));
  graph.node!.push(onnx.NodeProto.create({ opType: 'Cast', input: ['logits_float'], output: ['logits'], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: elemType }] }));
  graph.output!.find((o) => o.name === 'logits')!.type!.tensorType!.elemType = elemType;
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}
