import type { InferenceSession } from 'onnxruntime-node';
import { readDecoderSignature, type DecoderSignature } from './decoder-signature.js';
import { DecoderRunner } from './decoder-runner.js';
import { createSession, type ExecutionProvider, type SessionSettings } from './execution-provider.js';
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
  loadMs: number;
}

export interface LoadOptions {
  /** Which ONNX variant (--dtype / --onnx-file, or a module's dtype / onnx_file); default: the directory's one. */
  onnx?: OnnxChoice;
  /** How the choice is named in messages (flags for the base, JSON fields for modules). */
  names?: ChoiceNames;
  onAutoChoice?: (ep: ExecutionProvider, skipped: string[]) => void;
}

/** Model directory → files → config → session on the chosen provider → signature checked against config. */
export async function loadDecoder(dir: string, settings: SessionSettings, opts: LoadOptions = {}): Promise<LoadedDecoder> {
  const t0 = performance.now();
  const files = locateModelFiles(dir, opts.onnx, opts.names);
  const config = readModelConfig(files);
  // Before ONNX Runtime: a missing external data file gets a message naming it, and the operators tell the KV alignment.
  const onnx = readOnnxFileInfo(files.onnx);
  // Present names come from config.json so the session can keep them on the device from its creation.
  const presentNames = Array.from({ length: config.numLayers }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();
  const { session, ep } = await createSession(files.onnx, settings, presentNames, opts.onAutoChoice);
  let signature: DecoderSignature;
  try {
    signature = readDecoderSignature(session, config, files.onnx, onnx.operators);
  } catch (err) {
    await releaseSession(session);
    throw err;
  }
  return { files, config, onnx, signature, runner: new DecoderRunner(session, signature), ep, loadMs: performance.now() - t0 };
}

export async function releaseSession(session: InferenceSession): Promise<void> {
  await session.release().catch(() => undefined);
}
