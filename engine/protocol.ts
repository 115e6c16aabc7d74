import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../common/errors.js';
import type { SessionSettings } from '../models/execution-provider.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import type { GenerationRequest, SequenceEvent } from './generation-request.js';
import type { EngineStats } from './engine-stats.js';
import type { ModelSummary } from './model-summary.js';

/** Messages between the main thread (EngineClient) and the engine worker (the scheduler and the base). */

export interface EngineOptions {
  baseDir: string;
  session: SessionSettings;
  /** Running sequences at most. */
  maxBatch: number;
  /** Prompt tokens prefilled per step while streams run (0: whole prompts at once). */
  prefillChunk: number;
  /** The context the engine serves (prompt + generated), at most the model's. */
  maxContext: number;
}

export type ToEngine =
  | { type: 'submit'; seqId: number; request: GenerationRequest }
  | { type: 'cancel'; seqId: number }
  | { type: 'attach-module'; versionId: number; port: MessagePort; summary: ModelSummary }
  | { type: 'detach-module'; versionId: number }
  | { type: 'stats'; requestId: number }
  | { type: 'compile-grammar'; requestId: number; spec: GrammarSpec }
  | { type: 'shutdown' };

export type FromEngine =
  | { type: 'ready'; base: ModelSummary }
  | { type: 'fatal'; error: SerializedError }
  | { type: 'events'; events: SequenceEvent[] }
  | { type: 'stats'; requestId: number; stats: EngineStats }
  | { type: 'grammar-compiled'; requestId: number; error: SerializedError | null };

/** Messages between the engine worker and a module worker (one ORT session and its KV caches). */
export type ToModelWorker =
  | { type: 'run'; runId: number; rows: { seqId: number; tokens: Int32Array }[] }
  | { type: 'release'; seqIds: number[] };

export type FromModelWorker =
  | { type: 'run-result'; runId: number; logits: Float32Array; rows: number; vocab: number; ortMs: number }
  | { type: 'run-error'; runId: number; error: SerializedError };
