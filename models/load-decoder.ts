import { relative } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import { readDecoderSignature, type DecoderSignature } from './decoder-signature.js';
import { DecoderRunner } from './decoder-runner.js';
import { createSession, type ExecutionProvider, type SessionSettings } from './execution-provider.js';
import { defaultGraphCacheDir, prepareLogitsGraph, type LogitsGraph } from './logits-graph-cache.js';
import type { WebGpuAdapter } from './webgpu-adapter.js';
import { readModelConfig, type ModelConfig } from './model-config.js';
import { locateModelFiles, type ModelFiles } from './model-files.js';
import { readOnnxFileInfo, type OnnxFileInfo } from './onnx-file-info.js';
import type { ChoiceNames, OnnxChoice } from './onnx-variant.js';

export interface LoadedDecoder {
  files: ModelFiles;
  config: ModelConfig;
  /** The graph file served, its size, its external data and its operators. */
  onnx: OnnxFileInfo;
  signature: DecoderSignature;
  runner: DecoderRunner;
  ep: ExecutionProvider;
  /** The WebGPU adapter the session runs on (null on other providers). */
  adapter: WebGpuAdapter | null;
  loadMs: number;
  /** What was done about logits for every prompt position (logits-graph-cache.ts), for the load log. */
  logitsNote: LogitsGraph['note'];
}

export interface LoadOptions {
  /** Which ONNX variant (--dtype / --onnx-file, or a module's dtype / onnx_file); default: the directory's one. */
  onnx?: OnnxChoice;
  /** How the choice is named in messages (flags for the base, JSON fields for modules). */
  names?: ChoiceNames;
  onAutoChoice?: (ep: ExecutionProvider, skipped: string[]) => void;
}

/**
 * Model directory → files → config → the graph to serve (an export without num_logits_to_keep gets it added, see
 * logits-graph-cache.ts) → session on the chosen provider → signature checked against config.
 */
export async function loadDecoder(dir: string, settings: SessionSettings, opts: LoadOptions = {}): Promise<LoadedDecoder> {
  const t0 = performance.now();
  const files = locateModelFiles(dir, opts.onnx, opts.names);
  const config = readModelConfig(files);
  // Before ONNX Runtime: a missing external data file gets a message naming it, and the operators tell the KV alignment.
  const onnx = readOnnxFileInfo(files.onnx);
  // Present names come from config.json so the session can keep them on the device from its creation.
  const presentNames = Array.from({ length: config.numLayers }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();
  const cacheDir = settings.graphCacheDir === undefined ? defaultGraphCacheDir() : settings.graphCacheDir;
  // A staged module copy is keyed by content; the file's path inside the directory tells its variants apart.
  const sourceKey = settings.graphCacheKey ? `${settings.graphCacheKey}\0${relative(dir, files.onnx)}` : undefined;
  let graph = prepareLogitsGraph(files.onnx, cacheDir, config.vocabSize, settings.rewriteLogitsGraph ?? true, false, sourceKey);
  const deviceOutputs = settings.logitsOnDevice ? [...presentNames, 'logits'] : presentNames;
  let created: Awaited<ReturnType<typeof createSession>>;
  try {
    created = await createSession(files.onnx, settings, deviceOutputs, opts.onAutoChoice, graph);
  } catch (err) {
    // A cached graph ONNX Runtime cannot parse (truncated, emptied, overwritten): rewrite the export again, once.
    if (!graph.fromCache || !(err instanceof UnirError) || err.code !== 'invalid_model_dir') throw err;
    const redone = prepareLogitsGraph(files.onnx, cacheDir, config.vocabSize, true, true, sourceKey);
    const why = `the cached graph ${graph.path} could not be loaded (${err.message.replace(/^.*?ONNX Runtime: /, '')}), so it was rewritten`;
    graph = { ...redone, note: { level: 'warn', message: `${redone.note?.message ?? files.onnx}; ${why}` } };
    created = await createSession(files.onnx, settings, deviceOutputs, opts.onAutoChoice, graph);
  }
  const { session, ep, adapter } = created;
  let signature: DecoderSignature;
  try {
    signature = readDecoderSignature(session, config, files.onnx, onnx.operators);
    if (signature.kvAlignment === 'left' && settings.logitsOnDevice) {
      // Right-padded prefill rows end at different positions; the device fusion graph reads the last one.
      throw new UnirError('invalid_request', `${files.onnx} uses GroupQueryAttention (a left-aligned KV cache), which --fusion-site device does not serve yet: use --fusion-site host`);
    }
  } catch (err) {
    await releaseSession(session);
    throw err;
  }
  const runner = new DecoderRunner(session, signature);
  try {
    await testRuns(runner);
  } catch (err) {
    await runner.dispose();
    await releaseSession(session);
    const why = err instanceof UnirError ? `${err.message}${err.detail ? `: ${err.detail}` : ''}` : (err as Error).message;
    throw new UnirError('invalid_model_dir', `${files.onnx}: the model failed its test run at load (a 2-token prompt, then 1 token with its cache): ${why}`);
  }
  return { files, config, onnx, signature, runner, ep, adapter, loadMs: performance.now() - t0, logitsNote: graph.note };
}

/**
 * A prefill of 2 tokens, then a decode step that feeds the cache back: what every request does, on one row. A
 * graph whose cache layout is not [batch, kv_heads, positions, head_dim] fails here (checkRunOutputs, or ONNX
 * Runtime refusing its own present tensors as past), at load instead of at the first request.
 */
async function testRuns(runner: DecoderRunner): Promise<void> {
  const probe = -1;
  try {
    // Logits kept on a device (--fusion-site device) are the caller's to free.
    (await runner.run([{ seqId: probe, tokens: Int32Array.of(0, 0) }])).device?.dispose();
    (await runner.run([{ seqId: probe, tokens: Int32Array.of(0) }])).device?.dispose();
  } finally {
    runner.release(probe);
  }
}

export async function releaseSession(session: InferenceSession): Promise<void> {
  await session.release().catch(() => undefined);
}
