import type { LoadedDecoder } from '../models/load-decoder.js';
import type { WebGpuAdapter } from '../models/webgpu-adapter.js';

/** What the rest of the server knows of a loaded model: plain data, safe to post between threads. */
export interface ModelSummary {
  dir: string;
  modelType: string;
  ep: string;
  /** The WebGPU adapter (null on other providers). */
  adapter: WebGpuAdapter | null;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  kvDtype: string;
  vocabSize: number;
  maxPositions: number;
  hasPositionIds: boolean;
  logitsToKeepInput: string | null;
  loadMs: number;
  /** What `--ep auto` chose and why (null when a provider was named). */
  autoNote?: string | null;
  /** What was done about logits for every prompt position, to log once at load (null: nothing to say). */
  logitsNote: LoadedDecoder['logitsNote'];
  /** The base's tokenizer.json and EOS ids (for the grammar worker). */
  tokenizerPath?: string;
  eosTokenIds?: number[];
}

export function summarize(m: LoadedDecoder): ModelSummary {
  return {
    dir: m.files.dir,
    modelType: m.config.modelType,
    ep: m.ep,
    adapter: m.adapter,
    numLayers: m.signature.numLayers,
    numKvHeads: m.signature.numKvHeads,
    headDim: m.signature.headDim,
    kvDtype: m.signature.kvDtype,
    vocabSize: m.signature.vocabSize,
    maxPositions: m.config.maxPositions,
    hasPositionIds: m.signature.hasPositionIds,
    logitsToKeepInput: m.signature.logitsToKeepInput,
    loadMs: m.loadMs,
    logitsNote: m.logitsNote,
  };
}
