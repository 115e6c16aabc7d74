import type { RunnerTensorStats } from '../models/decoder-runner.js';

/** Counters of the step loop, cumulative since start, for metrics and the benchmarks' step breakdown. */
export interface EngineStats {
  running: number;
  prefilling: number;
  waiting: number;
  /** Sequences out of the batch because their client is not reading (caches kept). */
  paused: number;
  steps: number;
  /** Time in the base's ONNX Runtime runs (the engine thread waits on it). */
  baseOrtMs: number;
  /** Building feeds and re-laying out the base's KV cache. */
  baseLayoutMs: number;
  /** Waiting for module workers after the base finished (their runs overlap the base's). */
  moduleWaitMs: number;
  /** Gated modules' runs (entropy gate: they run after the base, on the sequences whose gate opened). */
  gateMs: number;
  /** Fusion, logit processors, sampling, detokenization and stop checks. */
  sampleMs: number;
  /** Whole steps, wall time. */
  stepMs: number;
  /** Times the base's cache was laid out again because the batch changed, and the time it took. */
  relayouts: number;
  relayoutMs: number;
  generatedTokens: number;
  promptTokens: number;
  /** Sequences whose KV cache the base holds (0 when idle: finished and cancelled ones are released). */
  cachedSequences: number;
  /** Tokens sampled on the sampler pool's workers rather than the engine thread (engine/sampler-pool.ts). */
  sampledOffThread: number;
  /** The base's KV tensors (created, disposed, live; on the device too) and re-layouts on the host vs by the graph. */
  baseTensors?: RunnerTensorStats;
  /** Rows fused on the device (--fusion-site device); each is one row brought to the host instead of one per model. */
  deviceFusedRows?: number;
}

export function emptyStats(): EngineStats {
  return {
    running: 0, prefilling: 0, waiting: 0, paused: 0, steps: 0, baseOrtMs: 0, baseLayoutMs: 0, moduleWaitMs: 0, gateMs: 0, sampleMs: 0,
    stepMs: 0, relayouts: 0, relayoutMs: 0, generatedTokens: 0, promptTokens: 0, cachedSequences: 0, sampledOffThread: 0,
  };
}
