import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../common/errors.js';
import type { SessionSettings } from '../models/execution-provider.js';
import type { OnnxChoice } from '../models/onnx-variant.js';
import type { GenerationRequest, SequenceEvent } from './generation-request.js';
import type { EngineHealth } from './engine-health.js';
import type { EngineStats } from './engine-stats.js';
import type { ModelSummary } from './model-summary.js';

/** Messages between the main thread (EngineClient) and the engine worker (the scheduler and the base). */

export interface EngineOptions {
  baseDir: string;
  /** Which ONNX variant of the base (--dtype / --onnx-file); default: the directory's one. */
  onnx?: OnnxChoice;
  session: SessionSettings;
  /** Running sequences at most. */
  maxBatch: number;
  /** Prompt tokens prefilled per step while streams run (0: whole prompts at once). */
  prefillChunk: number;
  /** The context the engine serves (prompt + generated), at most the model's. */
  maxContext: number;
  /** Sampler worker threads beside the engine thread (engine/sampler-pool.ts); default: cores - 1, at most 4. */
  samplerThreads?: number;
  /** Below this vocabulary a step samples on the engine thread alone (default 16,384; tests lower it). */
  samplerMinVocab?: number;
  /** Where the models' logits are summed: on the host (default), or on the base's WebGPU device (engine/device-fusion.ts). */
  fusionSite?: FusionSite;
}

export type FusionSite = 'host' | 'device';

/** A module version to load: where it is, which base it must fit, and its session settings. */
export interface ModuleLoad {
  versionId: number;
  name: string;
  dir: string;
  baseDir: string;
  session: SessionSettings;
  /** Which ONNX variant of the module (its unir.json's or the admin request's dtype / onnx_file). */
  onnx?: OnnxChoice;
  /** The tokenizer check ran already, in a worker of its own (adapters/module-host.ts): skip it. */
  tokenizerChecked?: boolean;
}

export type ToEngine =
  | { type: 'submit'; seqId: number; request: GenerationRequest }
  | { type: 'cancel'; seqId: number }
  | { type: 'pause'; seqId: number; paused: boolean }
  | { type: 'attach-module'; versionId: number; name: string; port: MessagePort; summary: ModelSummary }
  /** A module on the base's GPU provider: loaded and run in the engine thread, the device's one owner. */
  | { type: 'load-module'; load: ModuleLoad }
  | { type: 'detach-module'; versionId: number }
  | { type: 'stats'; requestId: number }
  /** The engine's end of the channel to a (new) grammar worker. */
  | { type: 'attach-grammar'; port: MessagePort }
  | { type: 'shutdown' };

export type FromEngine =
  | { type: 'ready'; base: ModelSummary }
  | { type: 'fatal'; error: SerializedError }
  | { type: 'events'; events: SequenceEvent[] }
  | { type: 'stats'; requestId: number; stats: EngineStats }
  | { type: 'health'; health: EngineHealth }
  | { type: 'module-loaded'; versionId: number; summary: ModelSummary }
  | { type: 'module-load-failed'; versionId: number; error: SerializedError }
  /** The answer to shutdown: every session of the engine thread is released. */
  | { type: 'closed' };

/** Messages between the engine worker and a module worker (one ORT session and its KV caches). */
export type ToModelWorker =
  | { type: 'run'; runId: number; rows: { seqId: number; tokens: Int32Array }[] }
  | { type: 'release'; seqIds: number[] }
  | { type: 'isolate'; seqIds: number[] };

export type FromModelWorker =
  | { type: 'run-result'; runId: number; logits: Float32Array; rows: number; vocab: number; ortMs: number }
  | { type: 'run-error'; runId: number; error: SerializedError };
