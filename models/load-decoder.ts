import type { InferenceSession } from 'onnxruntime-node';
import { readDecoderSignature, type DecoderSignature } from './decoder-signature.js';
import { DecoderRunner } from './decoder-runner.js';
import { createSession, type ExecutionProvider, type SessionSettings } from './execution-provider.js';
import { defaultGraphCacheDir, prepareLogitsGraph, type LogitsGraph } from './logits-graph-cache.js';
import type { WebGpuAdapter } from './webgpu-adapter.js';
import { readModelConfig, type ModelConfig } from './model-config.js';
import { locateModelFiles, type ModelFiles } from './model-files.js';

export interface LoadedDecoder {
  files: ModelFiles;
  config: ModelConfig;
  signature: DecoderSignature;
  runner: DecoderRunner;
  ep: ExecutionProvider;
  /** The WebGPU adapter the session runs on (null on other providers). */
  adapter: WebGpuAdapter | null;
  loadMs: number;
  /** What was done about logits for every prompt position (logits-graph-cache.ts), for the load log. */
  logitsNote: LogitsGraph['note'];
}

/**
 * Model directory → files → config → the graph to serve (an export without num_logits_to_keep gets it added, see
 * logits-graph-cache.ts) → session on the chosen provider → signature checked against config.
 */
export async function loadDecoder(
  dir: string,
  settings: SessionSettings,
  onAutoChoice?: (ep: ExecutionProvider, skipped: string[]) => void,
): Promise<LoadedDecoder> {
  const t0 = performance.now();
  const files = locateModelFiles(dir);
  const config = readModelConfig(files);
  // Present names come from config.json so the session can keep them on the device from its creation.
  const presentNames = Array.from({ length: config.numLayers }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();
  const cacheDir = settings.graphCacheDir === undefined ? defaultGraphCacheDir() : settings.graphCacheDir;
  const graph = prepareLogitsGraph(files.onnx, cacheDir, config.vocabSize, settings.rewriteLogitsGraph ?? true);
  const deviceOutputs = settings.logitsOnDevice ? [...presentNames, 'logits'] : presentNames;
  const { session, ep, adapter } = await createSession(files.onnx, settings, deviceOutputs, onAutoChoice, graph);
  let signature: DecoderSignature;
  try {
    signature = readDecoderSignature(session, config, files.onnx);
  } catch (err) {
    await releaseSession(session);
    throw err;
  }
  return { files, config, signature, runner: new DecoderRunner(session, signature), ep, adapter, loadMs: performance.now() - t0, logitsNote: graph.note };
}

export async function releaseSession(session: InferenceSession): Promise<void> {
  await session.release().catch(() => undefined);
}
