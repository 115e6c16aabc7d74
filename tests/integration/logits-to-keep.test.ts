import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDecoder, type LoadedDecoder } from '../../models/load-decoder.js';
import { prepareLogitsGraph } from '../../models/logits-graph-cache.js';
import { rewriteForLogitsToKeep } from '../../models/logits-to-keep-rewrite.js';
import { FIXTURES, REASONERS } from '../helpers/fixtures.js';

const ROOT = join(FIXTURES, 'logits-to-keep');
const WITH = join(ROOT, 'with-keep');
const WITHOUT = join(ROOT, 'without-keep');
const UNSAFE = join(ROOT, 'unsafe');
const WITHOUT_ONNX = join(WITHOUT, 'onnx', 'model.onnx');
const VOCAB = 307;

interface StepReference { prompt: string; prompt_ids: number[]; greedy_ids: number[]; step_logits: number[][] }
const refs: { plain: StepReference[]; unsafe: StepReference[]; prefill_all_positions: { prompt_ids: number[]; logits: number[][] } } =
  JSON.parse(readFileSync(join(ROOT, 'references.json'), 'utf8'));

const cacheDirs: string[] = [];
const cacheDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'unir-graph-cache-'));
  cacheDirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
});
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
};

/** Greedy decoding through the runner; every step's logits against PyTorch's (1e-4). */
async function expectReferences(model: LoadedDecoder, references: StepReference[]) {
  for (const [seqId, ref] of references.entries()) {
    let tokens = Int32Array.from(ref.prompt_ids);
    for (let step = 0; step < ref.greedy_ids.length; step++) {
      const logits = await model.runner.run([{ seqId, tokens }]);
      expect(logits.rows).toBe(1);
      expect(maxDiff(logits.data, ref.step_logits[step])).toBeLessThan(1e-4);
      let best = 0;
      for (let i = 1; i < logits.vocab; i++) if (logits.data[i] > logits.data[best]) best = i;
      expect(best).toBe(ref.greedy_ids[step]);
      tokens = Int32Array.of(ref.greedy_ids[step]);
    }
    model.runner.release(seqId);
  }
}

describe('rewriteForLogitsToKeep', () => {
  it('leaves an export with num_logits_to_keep alone', () => {
    expect(rewriteForLogitsToKeep(readFileSync(join(WITH, 'model.onnx')))).toEqual({ kind: 'has-input', input: 'num_logits_to_keep' });
  });

  it('adds num_logits_to_keep to an export without it, keeping its external data reference', () => {
    const r = rewriteForLogitsToKeep(readFileSync(WITHOUT_ONNX));
    expect(r.kind).toBe('rewritten');
    if (r.kind === 'rewritten') expect(r.externalLocations).toEqual(['model.onnx_data']);
  });

  it('refuses a graph whose logits mix positions, saying why', () => {
    const r = rewriteForLogitsToKeep(readFileSync(join(UNSAFE, 'model.onnx')));
    expect(r.kind).toBe('unsafe');
    if (r.kind === 'unsafe') expect(r.reason).toMatch(/mixes positions/);
  });

  it('the rewritten graph returns the last N positions of the original, bit for bit, and all of them for N = 0', async () => {
    const r = rewriteForLogitsToKeep(readFileSync(WITHOUT_ONNX));
    if (r.kind !== 'rewritten') throw new Error(r.kind);
    const extra = { session: { model_external_initializers_file_folder_path: join(WITHOUT, 'onnx') } };
    const rewritten = await ort.InferenceSession.create(Buffer.concat(r.chunks), { extra });
    const original = await ort.InferenceSession.create(WITHOUT_ONNX);
    const ids = refs.prefill_all_positions.prompt_ids;
    const s = ids.length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, s]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(s).fill(1n), [1, s]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(i)), [1, s]),
    };
    for (let l = 0; l < 2; l++) for (const kind of ['key', 'value']) feeds[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
    const full = (await original.run(feeds)).logits.data as Float32Array;
    expect(maxDiff(full, refs.prefill_all_positions.logits.flat())).toBeLessThan(1e-4);
    for (const keep of [1, 3, 0]) {
      const out = await rewritten.run({ ...feeds, num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), []) });
      const kept = keep === 0 ? s : keep;
      expect(out.logits.dims).toEqual([1, kept, VOCAB]);
      expect(Array.from(out.logits.data as Float32Array)).toEqual(Array.from(full.subarray((s - kept) * VOCAB)));
    }
    await Promise.all([rewritten.release(), original.release()]);
  });
});

describe('prepareLogitsGraph: the graph cache', () => {
  it('rewrites once, then serves the cached graph; notes say what happened', () => {
    const dir = cacheDir();
    const first = prepareLogitsGraph(WITHOUT_ONNX, dir, VOCAB);
    expect(first.note?.level).toBe('info');
    expect(first.note?.message).toMatch(/kept positions only .*cached graph/);
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(2);
    const graphFile = join(dir, files.find((f) => f.endsWith('.onnx'))!);
    const written = statSync(graphFile).mtimeMs;
    const second = prepareLogitsGraph(WITHOUT_ONNX, dir, VOCAB);
    expect(statSync(graphFile).mtimeMs).toBe(written);
    expect(second.bytes && Buffer.from(second.bytes).equals(readFileSync(graphFile))).toBe(true);
    expect(second.externalDataDir).toBe(join(WITHOUT, 'onnx'));
    expect(prepareLogitsGraph(join(WITH, 'model.onnx'), dir, VOCAB)).toMatchObject({ path: join(WITH, 'model.onnx'), bytes: null, note: null });
  });

  it('a model file rewritten in place with its size and modification time kept is rewritten again, not served from the cache', () => {
    // As `cp -p`, `rsync -a` or `touch -r` leave a new checkpoint of the same architecture: same path, size and mtime.
    const dir = cacheDir();
    const model = join(dir, 'model.onnx');
    copyFileSync(join(REASONERS, 'r1', 'model.onnx'), model);
    execFileSync('cp', ['-p', model, join(dir, 'timestamps')]);
    const first = prepareLogitsGraph(model, join(dir, 'cache'), VOCAB);
    const bytes = readFileSync(model);
    bytes[Math.floor(bytes.length * 0.6)] ^= 0x40; // inside the weights
    writeFileSync(model, bytes);
    execFileSync('touch', ['-r', join(dir, 'timestamps'), model]);
    expect(statSync(model).mtimeMs).toBe(statSync(join(dir, 'timestamps')).mtimeMs);
    const second = prepareLogitsGraph(model, join(dir, 'cache'), VOCAB);
    const fresh = rewriteForLogitsToKeep(bytes);
    if (fresh.kind !== 'rewritten') throw new Error(fresh.kind);
    expect(Buffer.from(second.bytes ?? readFileSync(second.path)).equals(Buffer.concat(fresh.chunks))).toBe(true);
    expect(second.path).not.toBe(first.path);
  });

  it('a cache write that fails leaves no partial file behind', () => {
    const dir = cacheDir();
    expect(prepareLogitsGraph(WITHOUT_ONNX, dir, VOCAB).note?.level).toBe('info');
    const graphName = readdirSync(dir).find((f) => f.endsWith('.onnx'))!;
    rmSync(join(dir, graphName));
    rmSync(join(dir, graphName.replace(/onnx$/, 'json')));
    // The rewritten graph cannot take its place (as when the disk fills up while it is written).
    mkdirSync(join(dir, graphName, 'occupied'), { recursive: true });
    const graph = prepareLogitsGraph(WITHOUT_ONNX, dir, VOCAB);
    expect(graph.note?.level).toBe('warn');
    expect(graph.note?.message).toMatch(/not cached/);
    expect(readdirSync(dir)).toEqual([graphName]);
  });

  it('an unwritable cache costs the rewrite at each load and is said, not fatal', () => {
    const notADir = join(cacheDir(), 'file');
    writeFileSync(notADir, 'x');
    const graph = prepareLogitsGraph(WITHOUT_ONNX, notADir, VOCAB);
    expect(graph.note?.level).toBe('warn');
    expect(graph.note?.message).toMatch(/not cached/);
    expect(graph.bytes).not.toBeNull();
  });
});

describe('loadDecoder on the three exports against PyTorch', () => {
  const loaded: LoadedDecoder[] = [];
  const load = async (dir: string) => {
    const model = await loadDecoder(dir, { ep: 'cpu', deviceId: 0, threads: 1, graphCacheDir: cacheDir() });
    loaded.push(model);
    return model;
  };
  let withKeep: LoadedDecoder;
  let rewritten: LoadedDecoder;
  let unsafe: LoadedDecoder;
  beforeAll(async () => {
    [withKeep, rewritten, unsafe] = [await load(WITH), await load(WITHOUT), await load(UNSAFE)];
  });
  afterAll(async () => {
    for (const m of loaded) await m.runner.session.release();
  });

  it('an export without num_logits_to_keep is served with it, and its tokens and logits are PyTorch\'s', async () => {
    expect(rewritten.signature.logitsToKeepInput).toBe('num_logits_to_keep');
    expect(rewritten.logitsNote?.level).toBe('info');
    await expectReferences(rewritten, refs.plain);
  });

  it('the same weights exported with it give the same', async () => {
    expect(withKeep.logitsNote).toBeNull();
    await expectReferences(withKeep, refs.plain);
  });

  it('an unsafe graph is served unchanged (still PyTorch\'s outputs) with a warning naming the cost', async () => {
    expect(unsafe.signature.logitsToKeepInput).toBeNull();
    expect(unsafe.logitsNote?.level).toBe('warn');
    expect(unsafe.logitsNote?.message).toMatch(/every prefill computes logits for all prompt positions .*307/);
    await expectReferences(unsafe, refs.unsafe);
  });
});
