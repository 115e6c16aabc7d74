import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationRequest, SequenceEvent, TokenEvent } from '../../engine/generation-request.js';
import { LocalModelRunner, type ModelRunner } from '../../engine/model-runner.js';
import { Scheduler } from '../../engine/scheduler.js';
import { entropy } from '../../kernels/entropy.js';
import { DEFAULT_SAMPLING } from '../../kernels/sampling-params.js';
import type { RunLogits, RunRow } from '../../models/decoder-runner.js';
import { loadDecoder, type LoadedDecoder } from '../../models/load-decoder.js';
import { TextTokenizer } from '../../models/text-tokenizer.js';
import { greedyRequest } from '../helpers/engine.js';
import { MHA, REASONERS } from '../helpers/fixtures.js';

const cpu = { ep: 'cpu' as const, deviceId: 0, threads: 1 };
const R1 = 11;
const R2 = 12;

/** A module runner that records every run: the scheduler step, its rows (tokens per sequence) and the logits. */
class RecordingRunner implements ModelRunner {
  readonly runs: { step: number; rows: { seqId: number; tokens: number[] }[]; logits: Float32Array; vocab: number }[] = [];
  constructor(private readonly inner: ModelRunner, private readonly stepNow: () => number) {}
  async run(rows: RunRow[]): Promise<RunLogits> {
    const out = await this.inner.run(rows);
    this.runs.push({ step: this.stepNow(), rows: rows.map((r) => ({ seqId: r.seqId, tokens: [...r.tokens] })), logits: out.data.slice(), vocab: out.vocab });
    return out;
  }
  release(seqIds: number[]): void {
    this.inner.release(seqIds);
  }
  isolate(seqIds: number[]): Promise<void> {
    return this.inner.isolate(seqIds);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The entropy gate, driven step by step in this thread against the fixture base and two random-weight modules. */
describe('entropy-gated modules with lazy KV catch-up', () => {
  let base: LoadedDecoder;
  let r1: LoadedDecoder;
  let r2: LoadedDecoder;
  let tokenizer: TextTokenizer;
  beforeAll(async () => {
    base = await loadDecoder(MHA, cpu);
    r1 = await loadDecoder(join(REASONERS, 'r1'), cpu);
    r2 = await loadDecoder(join(REASONERS, 'r2'), cpu);
    tokenizer = TextTokenizer.load(base.files, base.config);
  });
  afterAll(async () => {
    for (const m of [base, r1, r2]) await m.runner.session.release();
  });

  /**
   * Runs requests to the end on a fresh scheduler; returns each sequence's events, the scheduler step each of its
   * events came from, and the module recorders. `samplerThreads`: rows sampled on sampler workers (every row).
   */
  async function generate(requests: GenerationRequest[], prefillChunk = 0, samplerThreads = 0) {
    const events: SequenceEvent[] = [];
    const stepOfEvent: number[] = [];
    let stepNo = 0;
    const s = new Scheduler(new LocalModelRunner(base.runner), tokenizer, { maxBatch: 8, prefillChunk, maxContext: 512, vocab: base.signature.vocabSize, samplerThreads, samplerMinVocab: 1 }, (e) => {
      events.push(...e);
      for (const _ of e) stepOfEvent.push(stepNo);
    });
    const rec: Record<number, RecordingRunner> = { [R1]: new RecordingRunner(new LocalModelRunner(r1.runner), () => stepNo), [R2]: new RecordingRunner(new LocalModelRunner(r2.runner), () => stepNo) };
    s.attachModule(R1, rec[R1]);
    s.attachModule(R2, rec[R2]);
    requests.forEach((r, i) => s.submit(i + 1, r));
    const done = () => events.filter((e) => e.kind === 'done').length === requests.length;
    while (!done()) {
      await s.step();
      stepNo++;
    }
    if (samplerThreads > 0) expect(s.snapshot().sampledOffThread).toBeGreaterThan(0);
    s.stop();
    for (const m of [base, r1, r2]) expect(m.runner.sequenceCount).toBe(0);
    const of = (id: number) => events.filter((e) => e.seqId === id);
    const stepsOf = (id: number) => stepOfEvent.filter((_, j) => events[j].seqId === id);
    return { seqs: requests.map((_, i) => of(i + 1)), steps: requests.map((_, i) => stepsOf(i + 1)), rec };
  }
  const tokensOf = (events: SequenceEvent[]) => events.filter((e): e is TokenEvent => e.kind === 'token');

  const both = [{ versionId: R1, weight: 1 }, { versionId: R2, weight: 0.5 }];
  const prompts = [[5, 17, 42, 9], Array.from({ length: 13 }, (_, i) => (i * 7) % 250), [100, 3]];
  const requests = (gate: number | null) =>
    prompts.map((p, i) =>
      greedyRequest(p, 24, {
        reasoners: both,
        reasonerGate: gate === null ? null : { entropy: gate },
        attribution: true,
        logprobs: 5,
        ...(i === 1 ? { sampling: { ...DEFAULT_SAMPLING, temperature: 0.9, topP: 0.95 }, seed: 77n } : {}),
      }),
    );

  /** Base entropies along the ungated outputs: the thresholds below sit inside their range. */
  let entropies: number[] = [];

  it('threshold 0 gives the ungated output bit for bit (tokens, logprobs, attribution), sampled on workers or not', async () => {
    const ungated = await generate(requests(null));
    const gated = await generate(requests(0), 0, 2);
    const strip = (events: SequenceEvent[]) => events.map((e) => (e.kind === 'done' ? { ...e, queueMs: 0, gate: undefined } : e));
    expect(gated.seqs.map(strip)).toEqual(ungated.seqs.map(strip));
    for (const seq of gated.seqs) {
      expect(seq.at(-1)).toMatchObject({ kind: 'done', gate: { moduleSteps: 2 * 24, skipped: 0 } });
      for (const t of tokensOf(seq)) expect(t.attribution!.modules.every((m) => !m.skipped)).toBe(true);
    }
    entropies = ungated.seqs.flatMap((s) => tokensOf(s).map((t) => t.attribution!.baseEntropy)).sort((a, b) => a - b);
    expect(entropies[0]).toBeLessThan(entropies.at(-1)!);
  });

  it('at open steps the modules give their ungated logits (1e-5); closed steps run no module and fuse the base alone', async () => {
    const threshold = entropies[Math.floor(entropies.length / 2)];
    // A small prefill chunk: catch-up runs longer than 4 tokens are split into pieces.
    const { seqs, steps, rec } = await generate(requests(threshold), 4, 2);
    let open = 0;
    let closed = 0;
    let multiToken = 0;
    for (const [i, events] of seqs.entries()) {
      const seqId = i + 1;
      const generated = tokensOf(events);
      const all = [...prompts[i], ...generated.map((t) => t.tokenId)];
      // References: the base and each module run one token at a time over the whole sequence, nothing skipped.
      const refBase = await stepwiseLogits(base, all, 1000 + seqId);
      const refModule: Record<number, Float32Array[]> = { [R1]: await stepwiseLogits(r1, all, 1000 + seqId), [R2]: await stepwiseLogits(r2, all, 1000 + seqId) };
      for (const key of [R1, R2]) {
        // Each module's runs for this sequence, in order: the tokens fed must be the sequence's, with no gap.
        // A step's runs are one catch-up (in pieces of at most 4 tokens); its last piece gives the step's row.
        let fed = 0;
        const lastRunOfStep = new Map<number, { end: number; row: Float32Array }>();
        for (const run of rec[key].runs) {
          const r = run.rows.findIndex((x) => x.seqId === seqId);
          if (r < 0) continue;
          expect(run.rows[r].tokens).toEqual(all.slice(fed, fed + run.rows[r].tokens.length));
          expect(run.rows[r].tokens.length).toBeLessThanOrEqual(4);
          fed += run.rows[r].tokens.length;
          if (run.rows[r].tokens.length > 1) multiToken++;
          lastRunOfStep.set(run.step, { end: fed, row: run.logits.subarray(r * run.vocab, (r + 1) * run.vocab) });
        }
        // Modules run only at steps where this sequence sampled.
        const sampledAt = new Set(steps[i].slice(0, generated.length));
        for (const step of lastRunOfStep.keys()) expect(sampledAt.has(step)).toBe(true);
        generated.forEach((t, step) => {
          const position = prompts[i].length + step; // tokens before this step's sampled token
          const h = entropy(refBase[position - 1]);
          const a = t.attribution!;
          expect(a.baseEntropy).toBeCloseTo(h, 4);
          const m = a.modules.find((x) => x.versionId === key)!;
          // The gate compares the entropy of the row the engine ran (batched, chunked: within float rounding of
          // the stepwise reference's), so a step whose entropy sits at the threshold is judged by that one.
          if (a.baseEntropy >= threshold) {
            // The module's row at this step came from a catch-up that ended exactly at this position.
            const run = lastRunOfStep.get(steps[i][step]);
            expect(run?.end, `seq ${seqId} module ${key} step ${step}`).toBe(position);
            expect(maxDiff(run!.row, refModule[key][position - 1])).toBeLessThan(1e-5);
            expect(m.skipped).toBe(false);
            const weight = key === R1 ? 1 : 0.5;
            expect(m.chosen).toBeCloseTo(weight * refModule[key][position - 1][t.tokenId], 4);
            if (key === R1) open++;
          } else {
            expect(lastRunOfStep.has(steps[i][step])).toBe(false);
            expect(m).toMatchObject({ skipped: true, chosen: 0, baseTop: 0 });
            if (key === R1) closed++;
          }
        });
        // Tokens after the last open step were never fed.
        expect(fed).toBeLessThan(all.length);
      }
      // With every module gated off, the fused logits are the base's: the fused top is the base's top.
      for (const t of generated) if (t.attribution!.modules.every((m) => m.skipped)) expect(t.attribution!.fusedTop).toEqual(t.attribution!.baseTop);
      const done = events.at(-1)!;
      expect(done).toMatchObject({ kind: 'done', gate: { moduleSteps: 2 * generated.length } });
    }
    expect(open).toBeGreaterThan(5);
    expect(closed).toBeGreaterThan(5);
    expect(multiToken).toBeGreaterThan(3);
  });

  async function stepwiseLogits(model: LoadedDecoder, tokens: number[], seqId: number): Promise<Float32Array[]> {
    const rows: Float32Array[] = [];
    for (const t of tokens) rows.push((await model.runner.run([{ seqId, tokens: Int32Array.of(t) }])).data.slice());
    model.runner.release(seqId);
    return rows;
  }
});

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}
