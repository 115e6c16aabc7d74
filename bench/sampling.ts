/**
 * Issue 11's sampling benchmark: the per-token cost of what the engine does to one fused logits row (logit
 * processors, logprobs, sampling) for every sampling parameter set, at V = 32,000, 151,936 and 262,144, on
 * peaked and on flat rows, one thread. Each token starts with a copy of the row into the work buffer, as
 * fusion writes it. Per-token cost = median over rounds of the process's CPU time per token (on a quiet machine
 * the same as wall time; on a shared one it leaves out the time other processes held the cores); the wall-clock
 * worst cases are printed too. The parameter sets alternate within each round so drift hits them alike.
 *
 *   nice -n -5 npx tsx bench/sampling.ts [--rounds 7] [--tokens 16] [--vocab 32000,151936,262144]
 *
 * Rows (seeded):
 *   peaked: as a trained LM's logits, most ids tens of units below the max: 64 "head" ids uniform in
 *           [max - 12, max] (max = 20), the rest Gaussian around max - 40 with standard deviation 4.
 *   flat:   uniform in [-4, 4], as random-weight fixtures give.
 * Needs no model.
 */
import { createPenaltyState, commitToken, processLogits } from '../kernels/logits-pipeline.js';
import { rowLogprobs, tokenLogprob } from '../kernels/logprobs.js';
import { DEFAULT_SAMPLING, type SamplingParams } from '../kernels/sampling-params.js';
import { SeededRandom } from '../kernels/seeded-random.js';
import { createSamplerScratch, sampleToken } from '../kernels/token-sampler.js';
import { benchArgs, median, table } from './bench-args.js';

const args = benchArgs({
  rounds: { type: 'string', default: '7' },
  tokens: { type: 'string', default: '16' },
  vocab: { type: 'string', default: '32000,151936,262144' },
});
const rounds = Number(args.rounds);
const tokensPerRound = Number(args.tokens);
const vocabs = args.vocab!.split(',').map(Number);

interface ParamSet {
  name: string;
  sampling: SamplingParams;
  logprobs: number | null;
  penalties?: boolean;
}

const s = (o: Partial<SamplingParams>): SamplingParams => ({ ...DEFAULT_SAMPLING, ...o });
const PARAM_SETS: ParamSet[] = [
  { name: 'greedy', sampling: s({ temperature: 0 }), logprobs: null },
  { name: 'temperature 0.8', sampling: s({ temperature: 0.8 }), logprobs: null },
  { name: 'temperature 1', sampling: s({}), logprobs: null },
  { name: 'top_k 50', sampling: s({ topK: 50 }), logprobs: null },
  { name: 'top_p 0.9', sampling: s({ topP: 0.9 }), logprobs: null },
  { name: 'min_p 0.05', sampling: s({ minP: 0.05 }), logprobs: null },
  { name: 'top_p 0.9, temperature 0.8', sampling: s({ topP: 0.9, temperature: 0.8 }), logprobs: null },
  { name: 'top_k 50, top_p 0.9, min_p 0.05, T 0.7', sampling: s({ topK: 50, topP: 0.9, minP: 0.05, temperature: 0.7 }), logprobs: null },
  { name: 'top_p 0.95, min_p 0.05, T 1.2', sampling: s({ topP: 0.95, minP: 0.05, temperature: 1.2 }), logprobs: null },
  {
    name: 'penalties (rep 1.1, pres 0.5, freq 0.5)',
    sampling: s({ repetitionPenalty: 1.1, presencePenalty: 0.5, frequencyPenalty: 0.5 }),
    logprobs: null,
    penalties: true,
  },
  { name: 'logit_bias (16 ids)', sampling: s({ logitBias: new Map(Array.from({ length: 16 }, (_, i) => [i * 997, i % 2 ? 5 : -100])) }), logprobs: null },
  { name: 'greedy + logprobs 20', sampling: s({ temperature: 0 }), logprobs: 20 },
  { name: 'logprobs 20', sampling: s({}), logprobs: 20 },
  {
    name: 'all: logprobs 20, top_p 0.9, T 0.8, penalties, bias',
    sampling: s({ topP: 0.9, temperature: 0.8, repetitionPenalty: 1.1, presencePenalty: 0.5, frequencyPenalty: 0.5, logitBias: new Map([[7, 2], [99, -100]]) }),
    logprobs: 20,
    penalties: true,
  },
];

function peakedRow(vocab: number, seed: number): Float32Array {
  const rng = new SeededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const row = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) row[i] = -20 + 4 * gauss();
  for (let j = 0; j < 64; j++) row[Math.floor(rng.next() * vocab)] = 8 + 12 * rng.next();
  return row;
}

function flatRow(vocab: number, seed: number): Float32Array {
  const rng = new SeededRandom(seed);
  return Float32Array.from({ length: vocab }, () => -4 + 8 * rng.next());
}

/** What Sequence.sample does after fusion, with the engine's kernels. */
function perToken(
  row: Float32Array,
  work: Float32Array,
  set: ParamSet,
  rng: SeededRandom,
  penalties: ReturnType<typeof createPenaltyState>,
  scratch: ReturnType<typeof createSamplerScratch>,
): number {
  work.set(row);
  let logprob = 0;
  const logprobs = set.logprobs !== null ? rowLogprobs(work, set.logprobs) : null;
  if (logprobs) raw.set(work);
  processLogits(work, set.sampling, penalties, null);
  const id = sampleToken(work, set.sampling, rng, scratch);
  if (logprobs) logprob = tokenLogprob(raw, logprobs.stats, id);
  return id + logprob * 0;
}

const scratch = createSamplerScratch();
let raw = new Float32Array(0);
const results: { vocab: number; kind: string; set: string; ms: number; wallMs: number }[] = [];
for (const vocab of vocabs) {
  for (const kind of ['peaked', 'flat'] as const) {
    const rows = Array.from({ length: 4 }, (_, i) => (kind === 'peaked' ? peakedRow(vocab, 100 + i) : flatRow(vocab, 200 + i)));
    const work = new Float32Array(vocab);
    raw = new Float32Array(vocab);
    const penalties = createPenaltyState(Int32Array.from({ length: 256 }, (_, i) => (i * 7919) % vocab));
    for (let i = 0; i < 64; i++) commitToken(penalties, (i * 104729) % vocab);
    const times = PARAM_SETS.map(() => [] as number[]);
    const wall = PARAM_SETS.map(() => [] as number[]);
    const rng = new SeededRandom(vocab);
    const noPenalties = createPenaltyState(new Int32Array(0));
    // Round 0 warms the JIT and is not counted.
    for (let r = 0; r <= rounds; r++) {
      PARAM_SETS.forEach((set, k) => {
        const state = set.penalties ? penalties : noPenalties;
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        for (let t = 0; t < tokensPerRound; t++) perToken(rows[t % rows.length], work, set, rng, state, scratch);
        const cpu = process.cpuUsage(cpu0);
        if (r > 0) {
          times[k].push((cpu.user + cpu.system) / 1000 / tokensPerRound);
          wall[k].push((performance.now() - t0) / tokensPerRound);
        }
      });
    }
    PARAM_SETS.forEach((set, k) => results.push({ vocab, kind, set: set.name, ms: median(times[k]), wallMs: median(wall[k]) }));
  }
}

const loadAverage = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`per-token CPU ms (median of ${rounds} alternated rounds of ${tokensPerRound} tokens, one thread); load average ${loadAverage}`);
console.log(
  table(
    ['parameter set', ...vocabs.flatMap((v) => [`V=${v} peaked`, `V=${v} flat`])],
    PARAM_SETS.map((set) => [set.name, ...vocabs.flatMap((v) => ['peaked', 'flat'].map((kind) => results.find((x) => x.vocab === v && x.kind === kind && x.set === set.name)!.ms))]),
  ),
);
const worstOf = (kind: string, key: 'ms' | 'wallMs') => {
  const rows = results.filter((x) => x.vocab === 151936 && x.kind === kind);
  return rows.length === 0 ? { ms: NaN, wallMs: NaN, set: '-' } : rows.reduce((a, b) => (b[key] > a[key] ? b : a));
};
for (const kind of ['peaked', 'flat']) {
  console.log(`V=151936 ${kind}: worst by CPU time: ${worstOf(kind, 'ms').set}; worst wall clock: ${worstOf(kind, 'wallMs').wallMs.toFixed(3)} ms (${worstOf(kind, 'wallMs').set})`);
}
for (const kind of ['peaked', 'flat']) console.log(`sampling: worst per-token ms at V=151936 (${kind}): ${worstOf(kind, 'ms').ms.toFixed(3)}`);
