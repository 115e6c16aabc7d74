import { commitToken, createPenaltyState, processLogits, type SequencePenaltyState } from '../kernels/logits-pipeline.js';
import type { SampleJob } from '../kernels/sample-job.js';
import { randomSeed, SeededRandom } from '../kernels/seeded-random.js';
import { isGreedy } from '../kernels/token-sampler.js';
import { fuseLogits, type WeightedRow } from '../kernels/fuse-logits.js';
import type { UnirError } from '../common/errors.js';
import type { RemoteGrammar } from './remote-grammar.js';
import type { TokenStreamDecoder } from '../models/token-stream-decoder.js';
import type { TextTokenizer } from '../models/text-tokenizer.js';
import type { TokenAttribution } from '../kernels/token-attribution.js';
import type { FinishReason, GenerationRequest, ReturnedToken, TokenEvent, TopLogprob } from './generation-request.js';
import { GateState } from './reasoner-gate.js';
import { ReturnedTokens } from './returned-tokens.js';
import { StopMatcher } from './stop-matcher.js';

export type SequencePhase = 'waiting' | 'prefilling' | 'running' | 'finished';

/** What happened when a token was appended: the event to emit, and whether the sequence ended. */
export interface AppendResult {
  event: TokenEvent;
  finish: { reason: FinishReason; stopReason: string | number | null; error?: UnirError } | null;
}

/**
 * One sequence's state across steps: prompt progress, generated tokens, its sampler state (seeded generator,
 * penalty counts), streaming text with stop strings.
 */
export class Sequence {
  phase: SequencePhase = 'waiting';
  /** Prompt tokens already in every model's cache. */
  prefilled = 0;
  readonly generated: number[] = [];
  cancelled = false;
  /** The client is not reading: leave the batch at the next step, keeping the caches (PausedSequences). */
  pauseRequested = false;
  readonly submittedAt = performance.now();
  admittedAt: number | null = null;
  /** Text held back by the stop matcher at the end, emitted with the done event. */
  tail = '';
  /** With logprobs: the tokens whose text `tail` returns. */
  tailTokens: ReturnedToken[] = [];
  private readonly rng: SeededRandom;
  private readonly penalties: SequencePenaltyState;
  private readonly detokenizer: TokenStreamDecoder;
  private readonly stopMatcher: StopMatcher;
  private readonly endIds: ReadonlySet<number>;
  private readonly suppressUntilMin: number[];
  /** Logprobs cover the returned text: which tokens it is made of (null without logprobs). */
  private readonly returned: ReturnedTokens | null;
  private readonly skippedIds: ReadonlySet<number>;
  /** Set when the grammar could not mask or accept a token: the sequence ends with this error. */
  private grammarError: UnirError | null = null;
  /** Model keys this sequence runs on: 0 is the base, others are module version ids, sorted. */
  readonly modelKeys: number[];
  /** Attributed tokens and those where the modules changed the base's top token (when attribution is asked). */
  readonly attributionCounts = { tokens: 0, changed: 0 };
  /** The entropy gate of its modules (engine/reasoner-gate.ts), or null: modules run at every step. */
  readonly gate: GateState | null;

  constructor(
    readonly id: number,
    readonly request: GenerationRequest,
    tokenizer: TextTokenizer,
    private readonly maxContext: number,
    /** The request's grammar (structured outputs, forced tool calls): masks the fused logits before sampling. */
    private readonly grammar: RemoteGrammar | null = null,
  ) {
    this.rng = new SeededRandom(request.seed ?? randomSeed());
    this.penalties = createPenaltyState(request.promptIds);
    this.detokenizer = tokenizer.streamDecoder(request.promptIds);
    this.stopMatcher = new StopMatcher(request.stop);
    const eos = request.ignoreEos ? [] : tokenizer.eosTokenIds;
    this.endIds = new Set([...eos, ...request.stopTokenIds]);
    this.suppressUntilMin = [...new Set([...tokenizer.eosTokenIds, ...request.stopTokenIds])];
    this.returned = request.logprobs === null ? null : new ReturnedTokens();
    this.skippedIds = tokenizer.specialIds;
    // Sorted so the fusion sum runs in one order whatever order the request named the modules in.
    this.modelKeys = [0, ...request.reasoners.map((r) => r.versionId).sort((a, b) => a - b)];
    const gate = request.reasonerGate;
    this.gate = gate && request.reasoners.length > 0 ? new GateState(gate.entropy) : null;
  }

  get promptLength(): number {
    return this.request.promptIds.length;
  }

  /** Prompt and generated tokens, in order (a copy). */
  allTokens(): Int32Array {
    const all = new Int32Array(this.promptLength + this.generated.length);
    all.set(this.request.promptIds);
    all.set(this.generated, this.promptLength);
    return all;
  }

  get lastToken(): number {
    return this.generated[this.generated.length - 1];
  }

  /** False while the grammar's next mask waits behind a compile: the sequence sits this step out. */
  get canDecode(): boolean {
    return !this.grammar || this.grammar.canDecode;
  }

  /** Null when sample() can run now; else resolves when the grammar's next mask has arrived. */
  grammarReady(): Promise<void> | null {
    return this.grammar?.ready() ?? null;
  }

  weightOf(versionId: number): number {
    return this.request.reasoners.find((r) => r.versionId === versionId)!.weight;
  }

  /**
   * Fuses the models' rows into `out`, keeps a copy in `rawOut` when logprobs are asked for (they describe the
   * fused distribution before penalties, temperature and filters), applies the request's processors to `out`, and
   * takes this token's draw from the sequence's generator: the job that samples `out` (kernels/sample-job.ts), on
   * this thread or a sampler worker (engine/sampler-pool.ts), with the same result.
   */
  prepareSample(baseRow: Float32Array, terms: readonly WeightedRow[], out: Float32Array, rawOut: Float32Array | null): SampleJob {
    const z = fuseLogits(out, baseRow, terms);
    if (this.request.logprobs !== null) rawOut!.set(z);
    const suppress = this.generated.length < this.request.minTokens ? this.suppressUntilMin : null;
    const { sampling } = this.request;
    processLogits(z, sampling, this.penalties, suppress);
    if (this.grammar) this.grammarError ??= this.grammar.process(z);
    const draw = isGreedy(sampling) ? 0 : this.rng.next();
    return { temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP, minP: sampling.minP, draw, logprobs: this.request.logprobs };
  }

  /** The grammar's error for this step, if it could not mask: it explains an unusable row better than the row. */
  get grammarFailure(): UnirError | null {
    return this.grammarError;
  }

  /** Appends a sampled token: penalties, text, and the stop conditions in vLLM's order. */
  append(tokenId: number, extra: { logprob?: number; topLogprobs?: TopLogprob[]; attribution?: TokenAttribution }): AppendResult {
    if (this.grammar && !this.grammarError) this.grammarError = this.grammar.commit(tokenId);
    if (this.grammarError) {
      return { event: { kind: 'token', seqId: this.id, tokenId, text: '' }, finish: { reason: 'error', stopReason: null, error: this.grammarError } };
    }
    this.generated.push(tokenId);
    commitToken(this.penalties, tokenId);
    // Attribution is per sampled token (EOS and stop tokens included); logprobs follow the returned text.
    const event: TokenEvent = { kind: 'token', seqId: this.id, tokenId, text: '' };
    if (extra.attribution) event.attribution = extra.attribution;
    if (this.endIds.has(tokenId) && this.generated.length >= this.request.minTokens) {
      // EOS and stop tokens end the text without appearing in it (nor in the logprobs).
      const stopReason = this.request.stopTokenIds.includes(tokenId) ? tokenId : null;
      this.tail = this.stopMatcher.flush() + this.flushDetokenizer();
      this.tailTokens = this.returned?.end() ?? [];
      return { event, finish: { reason: 'stop', stopReason } };
    }
    const delta = this.detokenizer.push(tokenId);
    // A special token the text skips is not part of the returned text.
    if (this.returned && !this.skippedIds.has(tokenId)) this.returned.add(tokenId, delta, extra.logprob, extra.topLogprobs);
    const { emit, matched } = this.stopMatcher.push(delta);
    event.text = emit;
    event.returnedTokens = matched !== null ? this.returned?.stopped(emit) : this.returned?.emitted(emit, this.detokenizer.holding());
    if (matched !== null) {
      this.tailTokens = this.returned?.end() ?? [];
      return { event, finish: { reason: 'stop', stopReason: matched } };
    }
    if (this.generated.length >= this.request.maxTokens || this.promptLength + this.generated.length >= this.maxContext) {
      this.tail = this.stopMatcher.push(this.flushDetokenizer()).emit + this.stopMatcher.flush();
      this.tailTokens = this.returned?.end() ?? [];
      return { event, finish: { reason: 'length', stopReason: null } };
    }
    return { event, finish: null };
  }

  /** The detokenizer's held text at the end (an incomplete character), counted as the last returned token's. */
  private flushDetokenizer(): string {
    const text = this.detokenizer.flush();
    this.returned?.flushed(text);
    return text;
  }

  /** Frees what the sequence holds outside the JS heap (the grammar matcher's WebAssembly memory). */
  release(): void {
    this.grammar?.dispose();
  }
}
