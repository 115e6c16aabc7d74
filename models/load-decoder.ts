import type { InferenceSession } from 'onnxruntime-node';
import { readDecoderSignature, type DecoderSignature } from './decoder-signature.js';
import { DecoderRunner } from './decoder-runner.js';
import { createSession, type ExecutionProvider, type SessionSettings } from './execution-provider.js';
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
}

/** Model directory → files → config → session on the chosen provider → signature checked against config. */
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
  const deviceOutputs = settings.logitsOnDevice ? [...presentNames, 'logits'] : presentNames;
  const { session, ep, adapter } = await createSession(files.onnx, settings, deviceOutputs, onAutoChoice);
  let signature: DecoderSignature;
  try {
    signature = readDecoderSignature(session, config, files.onnx);
  } catch (err) {
    await releaseSession(session);
    throw err;
  }
  return { files, config, signature, runner: new DecoderRunner(session, signature), ep, adapter, loadMs: performance.now() - t0 };
}

export async function releaseSession(session: InferenceSession): Promise<void> {
  await session.release().catch(() => undefined);
}
