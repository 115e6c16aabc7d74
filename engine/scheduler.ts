import { serializeError, UnirError } from '../common/errors.js';
import { NonFiniteLogitsError, type NonFiniteKind } from '../kernels/non-finite-logits.js';
import { attributeToken, type ModuleRow } from '../kernels/token-attribution.js';
import type { RunLogits, RunRow } from '../models/decoder-runner.js';
import type { TextTokenizer } from '../models/text-tokenizer.js';
import { emptyStats, type EngineStats } from './engine-stats.js';
import type { DoneEvent, FinishReason, GenerationRequest, SequenceEvent } from './generation-request.js';
import type { EngineHealth } from './engine-health.js';
import { blameUnusableLogits, type NamedRow } from './logits-check.js';
import type { DeviceFusion } from './device-fusion.js';
import type { LocalModelRunner, ModelRunner } from './model-runner.js';
import { PausedSequences } from './paused-sequences.js';
import { SamplerPool } from './sampler-pool.js';
import { Sequence } from './sequence.js';
import type { RemoteGrammar } from './remote-grammar.js';
import { planPrefill, type PrefillWork } from './prefill-plan.js';
import { runGatedModules, type GateCandidate, type GateDecision } from './reasoner-gate.js';

export const BASE_KEY = 0;
/** Steps in a row that may throw past per-sequence containment before the engine reports itself unhealthy. */
const MAX_CONSECUTIVE_FAULTS = 3;

/** The models a sequence runs on at every step: all of them, or only the base when its modules are gated. */
function eagerKeys(seq: Sequence): readonly number[] {
  return seq.gate ? [BASE_KEY] : seq.modelKeys;
}

export interface SchedulerOptions {
  maxBatch: number;
  prefillChunk: number;
  maxContext: number;
  vocab: number;
  /** Sampler worker threads beside the engine thread (engine/sampler-pool.ts); default 0. */
  samplerThreads?: number;
  /** Below this vocabulary a step samples on the engine thread alone (default 16,384). */
  samplerMinVocab?: number;
}

/** What a sequence's row was fused from this step (kept to name the culprit when the row is unusable). */
interface FusionInput {
  base: Float32Array;
  terms: NamedRow[];
  onDevice: boolean;
}

/** Rows of one model in one step, and where each sequence's logits row lands. */
interface ModelStep {
  key: number;
  runner: ModelRunner;
  decode: RunRow[];
  prefill: RunRow[];
}

interface ModelStepResult {
  key: number;
  decode: RunLogits | null;
  prefill: RunLogits | null;
  error: UnirError | null;
}

/**
 * Continuous batching. Sequences join and leave at step boundaries. Each step runs the base once over all
 * running sequences and each module once over the sequences that use it (plus, at most, one prefill run per
 * model for newly admitted prompts, chunked so running streams keep their pace), then fuses, samples and emits.
 */
export class Scheduler {
  private readonly waiting: Sequence[] = [];
  private readonly prefilling: Sequence[] = [];
  private running: Sequence[] = [];
  private readonly paused = new PausedSequences();
  private readonly byId = new Map<number, Sequence>();
  private readonly modules = new Map<number, ModelRunner>();
  private readonly moduleNames = new Map<number, string>();
  private wake: (() => void) | null = null;
  private stopped = false;
  private faults = 0;
  readonly stats: EngineStats = emptyStats();
  private readonly attributionScratch: Float32Array;

  private readonly sampler: SamplerPool;

  constructor(
    private readonly base: LocalModelRunner,
    private readonly tokenizer: TextTokenizer,
    private readonly options: SchedulerOptions,
    private readonly emit: (events: SequenceEvent[]) => void,
    /** `--fusion-site device`: the step's logits are fused where the models ran (engine/device-fusion.ts). */
    private readonly fusion: DeviceFusion | null = null,
    private readonly onHealth: (health: EngineHealth) => void = () => undefined,
  ) {
    this.attributionScratch = new Float32Array(options.vocab);
    this.sampler = new SamplerPool(options.vocab, options.samplerThreads ?? 0, options.samplerMinVocab, undefined, options.maxBatch);
  }

  submit(seqId: number, request: GenerationRequest, grammar: RemoteGrammar | null = null): void {
    const missing = request.reasoners.find((r) => !this.modules.has(r.versionId));
    const seq = new Sequence(seqId, request, this.tokenizer, this.options.maxContext, grammar);
    const refused = missing
      ? new UnirError('reasoner_not_found', `reasoning module version ${missing.versionId} is not attached`)
      : this.fusion && (request.reasonerGate || request.attribution)
        ? new UnirError('invalid_request', 'reasoner_gate and return_attribution need each model\'s logits on the host: not available with --fusion-site device')
        : null;
    if (refused) {
      seq.release();
      this.emit([this.doneEvent(seq, 'error', null, refused)]);
      return;
    }
    this.byId.set(seqId, seq);
    this.waiting.push(seq);
    this.wake?.();
  }

  cancel(seqId: number): void {
    const seq = this.byId.get(seqId);
    if (!seq) return;
    seq.cancelled = true;
    const i = this.waiting.indexOf(seq);
    if (i !== -1) {
      // Not started: leave at once, no cache to release.
      this.waiting.splice(i, 1);
      this.finish([seq], 'cancelled', null);
    } else if (this.paused.list.includes(seq)) {
      // Out of the batch: no step will come for it, leave now (its caches are released).
      this.finish([seq], 'cancelled', null);
    }
    this.wake?.();
  }

  /** Backpressure: the sequence leaves the batch at the next step, or comes back (before new prompts). */
  setPaused(seqId: number, paused: boolean): void {
    const seq = this.byId.get(seqId);
    if (!seq) return;
    seq.pauseRequested = paused;
    this.wake?.();
  }

  attachModule(versionId: number, runner: ModelRunner, name = `version ${versionId}`): void {
    this.modules.set(versionId, runner);
    this.moduleNames.set(versionId, name);
  }

  detachModule(versionId: number): ModelRunner | undefined {
    const runner = this.modules.get(versionId);
    this.modules.delete(versionId);
    this.moduleNames.delete(versionId);
    const users = [...this.byId.values()].filter((s) => s.modelKeys.includes(versionId));
    if (users.length > 0) this.fail(users, new UnirError('reasoner_not_found', `reasoning module version ${versionId} was unloaded`));
    return runner;
  }

  snapshot(): EngineStats {
    const t = this.base.totals;
    return {
      ...this.stats,
      running: this.running.length,
      prefilling: this.prefilling.length,
      paused: this.paused.list.length,
      waiting: this.waiting.length,
      baseOrtMs: t.ortMs,
      baseLayoutMs: t.layoutMs,
      relayouts: t.relayouts,
      relayoutMs: t.relayoutMs,
      cachedSequences: this.base.decoder.sequenceCount,
      sampledOffThread: this.sampler.offThreadRows,
      baseTensors: this.base.decoder.tensorStats,
    };
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    void this.sampler.close();
  }

  /** Something a waiting step loop may be waiting for happened (a grammar mask arrived). */
  nudge(): void {
    this.wake?.();
  }

  async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.waiting.length + this.prefilling.length + this.running.length + this.paused.resumable === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      let worked: boolean;
      try {
        worked = await this.step();
        this.faults = 0;
      } catch (err) {
        this.recover(err);
        continue;
      }
      // A step with nothing to run (e.g. every request still waiting for a slot) waits for news instead of spinning.
      if (!worked) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
      }
    }
  }

  /**
   * A step threw past the per-sequence containment (a bug, or a runtime that broke): the sequences it ran fail,
   * their caches are released in every model, and the base must then hold no cache at all (waiting sequences
   * have none). Clean: the engine serves on. Otherwise, or after several such steps in a row, it reports itself
   * unhealthy so that /health and /ready turn 503 and an orchestrator restarts it.
   */
  private recover(err: unknown): void {
    this.faults++;
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    let leaked: number;
    try {
      this.fail([...this.prefilling, ...this.running], new UnirError('internal_error', 'the engine failed while running this request', null, { detail }));
      leaked = this.base.decoder.sequenceCount;
      if (leaked > 0) this.base.decoder.releaseAll();
    } catch {
      leaked = Math.max(1, this.base.decoder.sequenceCount);
    }
    if (leaked > 0 || this.faults >= MAX_CONSECUTIVE_FAULTS) {
      const why = leaked > 0 ? `held ${leaked} KV caches it could not account for` : `${this.faults} steps in a row failed`;
      this.onHealth({ healthy: false, reason: `the engine ${why} (last: ${err instanceof Error ? err.message : String(err)})` });
    }
  }

  /** One step: drop cancelled, admit, run every model, then fuse, sample and emit per sequence. False if idle. */
  async step(): Promise<boolean> {
    const t0 = performance.now();
    this.dropCancelled();
    this.running = await this.paused.apply(this.running, this.options.maxBatch - this.prefilling.length, (seq) => this.isolate(seq));
    this.admit();
    // A grammar sequence whose next mask waits behind a compile sits the step out (the others go on).
    const decoding = this.running.filter((s) => s.canDecode);
    const prefill = planPrefill(this.prefilling, this.options.prefillChunk);
    if (decoding.length === 0 && prefill.length === 0) return false;

    const results = await this.runModels(this.modelSteps(decoding, prefill));
    // Grammar masks are computed in the grammar worker while the models ran: usually here already.
    const masks = [...decoding, ...prefill.map((p) => p.seq)].map((s) => s.grammarReady()).filter((p) => p !== null);
    if (masks.length > 0) await Promise.all(masks);
    const t1 = performance.now();
    const gateMsBefore = this.stats.gateMs;
    const failed = new Map<Sequence, UnirError>();
    for (const r of results) {
      if (!r.error) continue;
      for (const seq of [...decoding, ...prefill.map((p) => p.seq)]) {
        if (seq.modelKeys.includes(r.key) && !failed.has(seq)) failed.set(seq, r.error);
      }
    }
    for (const [seq, err] of failed) this.fail([seq], err);
    const onDevice = this.fusion ? await this.fuseOnDevice(this.fusion, results, decoding, prefill) : null;

    const events: SequenceEvent[] = [];
    const byKey = new Map(results.map((r) => [r.key, r]));
    const finished: { seq: Sequence; reason: FinishReason; stopReason: string | number | null; error?: UnirError }[] = [];
    const toSample: { seq: Sequence; row: (key: number) => Float32Array }[] = [];
    const rowsOf = (which: 'decode' | 'prefill', index: Map<number, Map<number, number>>, seq: Sequence) => (key: number): Float32Array => {
      const logits = byKey.get(key)![which]!;
      const r = index.get(key)!.get(seq.id)!;
      return logits.data.subarray(r * logits.vocab, (r + 1) * logits.vocab);
    };

    const decodeIndex = this.rowIndex(decoding);
    for (const seq of decoding) {
      if (seq.phase === 'finished' || seq.cancelled) continue;
      toSample.push({ seq, row: rowsOf('decode', decodeIndex, seq) });
    }
    const prefillIndex = this.rowIndex(prefill.map((p) => p.seq));
    for (const { seq, tokens } of prefill) {
      if (seq.phase === 'finished') continue;
      seq.prefilled += tokens.length;
      this.stats.promptTokens += tokens.length;
      if (seq.prefilled < seq.promptLength || seq.cancelled) continue;
      // The last chunk's logits give the first token; the sequence decodes with the batch from the next step.
      this.prefilling.splice(this.prefilling.indexOf(seq), 1);
      seq.phase = 'running';
      this.running.push(seq);
      toSample.push({ seq, row: rowsOf('prefill', prefillIndex, seq) });
    }
    const gated = await this.runGates(toSample);
    // A gated module that failed has ended its sequence: it samples nothing.
    const sampling = toSample.filter(({ seq }) => seq.phase !== 'finished');

    // Fusion and processors here, in order; the rows' sampling is split across the sampler pool.
    const slots = this.sampler.rows(sampling.length);
    const modulesOf = sampling.map(({ seq, row }) => this.moduleRows(seq, row, gated.get(seq.id)));
    const inputs: FusionInput[] = [];
    const jobs = sampling.map(({ seq, row }, i) => {
      const fused = onDevice?.get(seq.id);
      const terms: NamedRow[] = [];
      if (!fused) for (const m of modulesOf[i]) if (m.row) terms.push({ row: m.row, weight: m.weight, name: this.moduleNames.get(m.versionId) ?? `version ${m.versionId}` });
      inputs.push({ base: fused ?? row(BASE_KEY), terms, onDevice: fused !== undefined });
      return seq.prepareSample(fused ?? row(BASE_KEY), terms, slots.rows[i], seq.request.logprobs !== null ? slots.raws[i] : null);
    });
    const outcomes = await this.sampler.run(jobs);
    sampling.forEach(({ seq, row }, i) => {
      // Ended while its row was sampled on another thread (a module detached, a shutdown): nothing to append.
      if (seq.phase === 'finished') return;
      const outcome = outcomes[i];
      if ('nonFinite' in outcome) {
        // A broken row ends its own sequence only, naming who broke it.
        this.fail([seq], seq.grammarFailure ?? this.unusableRowError(seq, inputs[i], outcome.nonFinite));
        return;
      }
      let appended: ReturnType<Sequence['append']>;
      try {
        const attribution = seq.request.attribution ? this.attribute(seq, row(BASE_KEY), modulesOf[i], outcome.tokenId) : undefined;
        appended = seq.append(outcome.tokenId, attribution ? { ...outcome, attribution } : outcome);
      } catch (err) {
        // A token the detokenizer or a stop check cannot place: this sequence ends, the batch goes on.
        this.fail([seq], new UnirError('internal_error', 'the sampled token could not be appended', null, { detail: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
        return;
      }
      const { event, finish } = appended;
      events.push(event);
      this.stats.generatedTokens++;
      if (finish) finished.push({ seq, ...finish });
    });
    if (events.length > 0) this.emit(events);
    for (const f of finished) this.finish([f.seq], f.reason, f.stopReason, f.error);
    this.stats.steps++;
    this.stats.sampleMs += performance.now() - t1 - (this.stats.gateMs - gateMsBefore);
    this.stats.stepMs += performance.now() - t0;
    return true;
  }

  /** A sequence's module rows this step: all of them, or with a gate those it ran (null: its gate was closed). */
  private moduleRows(seq: Sequence, row: (key: number) => Float32Array, decision: GateDecision | undefined): ModuleRow[] {
    return seq.modelKeys.slice(1).map((k) => ({ versionId: k, weight: seq.weightOf(k), row: decision ? (decision.rows.get(k) ?? null) : row(k) }));
  }

  /** The token's attribution (kernels/token-attribution.ts), counted in the sequence's summary. */
  private attribute(seq: Sequence, baseRow: Float32Array, modules: ModuleRow[], tokenId: number) {
    const attribution = attributeToken(baseRow, modules, tokenId, this.attributionScratch);
    seq.attributionCounts.tokens++;
    if (attribution.fusedTop.id !== attribution.baseTop.id) seq.attributionCounts.changed++;
    return attribution;
  }

  /** The entropy gates of this step's gated sequences: decides them on the base's rows and runs the open modules. */
  private async runGates(toSample: { seq: Sequence; row: (key: number) => Float32Array }[]): Promise<Map<number, GateDecision>> {
    const candidates: GateCandidate[] = [];
    for (const { seq, row } of toSample) {
      if (!seq.gate || seq.phase === 'finished') continue;
      const tokenCount = seq.promptLength + seq.generated.length;
      candidates.push({ seqId: seq.id, gate: seq.gate, moduleKeys: seq.modelKeys.slice(1), tokens: () => seq.allTokens(), tokenCount, baseRow: row(BASE_KEY) });
    }
    if (candidates.length === 0) return new Map();
    const t0 = performance.now();
    const { decisions, failed } = await runGatedModules(candidates, this.modules, this.options.prefillChunk);
    this.stats.gateMs += performance.now() - t0;
    for (const [seqId, err] of failed) {
      const seq = this.byId.get(seqId);
      if (seq) this.fail([seq], err);
    }
    return decisions;
  }

  private admit(): void {
    while (this.waiting.length > 0 && this.running.length + this.prefilling.length < this.options.maxBatch) {
      const seq = this.waiting.shift()!;
      seq.phase = 'prefilling';
      seq.admittedAt = performance.now();
      this.prefilling.push(seq);
    }
  }

  private modelSteps(decoding: Sequence[], prefill: PrefillWork[]): ModelStep[] {
    const steps = new Map<number, ModelStep>();
    const stepOf = (key: number): ModelStep => {
      let s = steps.get(key);
      if (!s) {
        s = { key, runner: key === BASE_KEY ? this.base : this.modules.get(key)!, decode: [], prefill: [] };
        steps.set(key, s);
      }
      return s;
    };
    for (const seq of decoding) {
      for (const key of eagerKeys(seq)) stepOf(key).decode.push({ seqId: seq.id, tokens: Int32Array.of(seq.lastToken) });
    }
    for (const { seq, tokens } of prefill) {
      for (const key of eagerKeys(seq)) stepOf(key).prefill.push({ seqId: seq.id, tokens });
    }
    return [...steps.values()];
  }

  /** Starts the modules' runs first (they run in their own threads), then runs the base here. */
  private async runModels(steps: ModelStep[]): Promise<ModelStepResult[]> {
    const runStep = async (s: ModelStep): Promise<ModelStepResult> => {
      const result: ModelStepResult = { key: s.key, decode: null, prefill: null, error: null };
      try {
        if (s.decode.length > 0) result.decode = await s.runner.run(s.decode);
        if (s.prefill.length > 0) result.prefill = await s.runner.run(s.prefill);
      } catch (err) {
        result.error = err instanceof UnirError ? err : new UnirError('model_failed', String(err));
      }
      return result;
    };
    const modules = steps.filter((s) => s.key !== BASE_KEY).map(runStep);
    const baseStep = steps.find((s) => s.key === BASE_KEY);
    const baseResult = baseStep ? await runStep(baseStep) : null;
    const tWait = performance.now();
    const moduleResults = await Promise.all(modules);
    this.stats.moduleWaitMs += performance.now() - tWait;
    return baseResult ? [baseResult, ...moduleResults] : moduleResults;
  }

  /**
   * The error of a sequence whose logits the sampler found unusable: the model or modules that made them so
   * (blameUnusableLogits), or, fused on the device where the rows are not seen apart, all of them.
   */
  private unusableRowError(seq: Sequence, input: FusionInput, kind: NonFiniteKind): UnirError {
    const what = new NonFiniteLogitsError(kind).message;
    const modules = seq.modelKeys.slice(1).map((k) => this.moduleNames.get(k) ?? `version ${k}`);
    if (input.onDevice) {
      return modules.length > 0
        ? new UnirError('reasoner_failed', `the logits of the base and ${modules.join(', ')}, fused on the device, are unusable (${what})`)
        : new UnirError('model_failed', `the base model's logits are unusable (${what})`);
    }
    return blameUnusableLogits(input.base, input.terms) ?? new UnirError('model_failed', `the request's sampling parameters made the logits unusable (${what})`);
  }

  /** A paused sequence's caches, in every model, copied out of the batch's layout into one of their own. */
  private async isolate(seq: Sequence): Promise<void> {
    for (const key of seq.modelKeys) await (key === BASE_KEY ? this.base : this.modules.get(key))?.isolate([seq.id]);
  }

  /** The fused rows of the sequences that sample this step; a failure there fails them, not the engine. */
  private async fuseOnDevice(fusion: DeviceFusion, results: ModelStepResult[], decoding: Sequence[], prefill: PrefillWork[]): Promise<Map<number, Float32Array>> {
    const completing = new Set(prefill.filter((p) => p.seq.prefilled + p.tokens.length >= p.seq.promptLength).map((p) => p.seq));
    const samples = (s: Sequence) => s.phase !== 'finished' && !s.cancelled && (s.phase === 'running' || completing.has(s));
    try {
      return await fusion.fuseStep(results, decoding, prefill.map((p) => p.seq), samples);
    } catch (err) {
      this.fail([...decoding, ...completing].filter(samples), err instanceof UnirError ? err : new UnirError('model_failed', String(err)));
      return new Map();
    }
  }

  private rowIndex(seqs: Sequence[]): Map<number, Map<number, number>> {
    const index = new Map<number, Map<number, number>>();
    for (const seq of seqs) {
      for (const key of eagerKeys(seq)) {
        let m = index.get(key);
        if (!m) index.set(key, (m = new Map()));
        m.set(seq.id, m.size);
      }
    }
    return index;
  }

  private dropCancelled(): void {
    const cancelled = [...this.prefilling, ...this.running, ...this.paused.list].filter((s) => s.cancelled);
    if (cancelled.length > 0) this.finish(cancelled, 'cancelled', null);
  }

  private fail(seqs: Sequence[], err: UnirError): void {
    this.finish(seqs, 'error', null, err);
  }

  /** Ends sequences: out of every queue, caches released in every model, one done event each. */
  private finish(seqs: Sequence[], reason: FinishReason, stopReason: string | number | null, err?: UnirError): void {
    const events: DoneEvent[] = [];
    const releases = new Map<number, number[]>();
    for (const seq of seqs) {
      if (seq.phase === 'finished') continue;
      const started = seq.phase !== 'waiting';
      seq.phase = 'finished';
      seq.release();
      this.byId.delete(seq.id);
      if (started) for (const key of seq.modelKeys) (releases.get(key) ?? releases.set(key, []).get(key)!).push(seq.id);
      events.push(this.doneEvent(seq, reason, stopReason, err));
    }
    this.running = this.running.filter((s) => s.phase !== 'finished');
    this.paused.remove((s) => s.phase === 'finished');
    for (let i = this.prefilling.length - 1; i >= 0; i--) if (this.prefilling[i].phase === 'finished') this.prefilling.splice(i, 1);
    for (const [key, ids] of releases) (key === BASE_KEY ? this.base : this.modules.get(key))?.release(ids);
    if (events.length > 0) this.emit(events);
  }

  private doneEvent(seq: Sequence, reason: FinishReason, stopReason: string | number | null, err?: UnirError): DoneEvent {
    return {
      kind: 'done',
      seqId: seq.id,
      finishReason: reason,
      text: reason === 'stop' || reason === 'length' ? seq.tail : '',
      ...((reason === 'stop' || reason === 'length') && seq.tailTokens.length > 0 ? { returnedTokens: seq.tailTokens } : {}),
      stopReason,
      promptTokens: seq.promptLength,
      completionTokens: seq.generated.length,
      queueMs: (seq.admittedAt ?? performance.now()) - seq.submittedAt,
      ...(seq.request.attribution ? { attribution: { ...seq.attributionCounts } } : {}),
      ...(seq.gate ? { gate: { moduleSteps: seq.gate.moduleSteps, skipped: seq.gate.skipped, caughtUpTokens: seq.gate.caughtUp } } : {}),
      ...(err ? { error: serializeError(err) } : {}),
    };
  }
}
