/**
 * The entropy-gating table of `npm run eval`: base + add + sort with `reasoner_gate: {entropy: t}` for several
 * thresholds t, on the held-out sets. Per threshold: accuracy per set, the share of module steps the gate skipped,
 * and tokens/s against ungated fusion, measured in alternated rounds (the order rotates each round) at 1 and at
 * 16 streams in flight: the median of the rounds, and the median of each round's ratio to that round's ungated run.
 */
import type { RunningServer } from '../server/start.js';
import { median, percentile, table } from '../bench/bench-args.js';
import { runSet, SETS, type CompletionResponse, type Problem, type SetName } from './demo-eval-client.js';

/** Where the modules change the base's top token, from the ungated run's attribution. */
export interface Interventions {
  tokens: number;
  changed: number;
  /** Base entropy (nats) at each changed token, ascending. */
  changedEntropies: number[];
}

export interface GatingRow {
  threshold: number;
  accuracy: Record<SetName, number>;
  skippedShare: number;
  tokensPerSecond: { one: number; sixteen: number };
  /** Median over rounds of tokens/s against the ungated run of the same round. */
  speedup: { one: number; sixteen: number };
}

export interface GatingOptions {
  thresholds: number[];
  rounds: number;
  /** Problems timed per round: at 1 stream, and at 16 streams. */
  speedProblems: { one: Problem[]; sixteen: Problem[] };
}

export async function gatingTable(
  server: RunningServer,
  model: string,
  sets: Record<SetName, Problem[]>,
  o: GatingOptions,
): Promise<{ rows: GatingRow[]; interventions: Interventions }> {
  const thresholds = [0, ...o.thresholds];
  const gate = (t: number) => (t > 0 ? { reasoner_gate: { entropy: t } } : {});
  const rows: GatingRow[] = [];
  const interventions: Interventions = { tokens: 0, changed: 0, changedEntropies: [] };
  const record = (body: CompletionResponse) => {
    for (const e of body.choices[0].attribution ?? []) {
      interventions.tokens++;
      if (e.changed) interventions.changedEntropies.push(e.base_entropy);
    }
  };
  for (const t of thresholds) {
    const accuracy = {} as Record<SetName, number>;
    let steps = 0;
    let skipped = 0;
    for (const s of SETS) {
      // The ungated run also returns attribution: where the modules change the base's choice, and how sure the base was.
      const r = t === 0 ? await runSet(server, model, sets[s], 16, { return_attribution: true }, record) : await runSet(server, model, sets[s], 16, gate(t));
      accuracy[s] = r.accuracy;
      steps += r.moduleSteps;
      skipped += r.skipped;
    }
    rows.push({ threshold: t, accuracy, skippedShare: steps > 0 ? skipped / steps : 0, tokensPerSecond: { one: 0, sixteen: 0 }, speedup: { one: 1, sixteen: 1 } });
    process.stderr.write(`gate ${t}: ${SETS.map((s) => `${s} ${accuracy[s].toFixed(1)}%`).join(', ')}, skipped ${((100 * skipped) / Math.max(1, steps)).toFixed(1)}%\n`);
  }
  for (const [key, problems, concurrency] of [['one', o.speedProblems.one, 1], ['sixteen', o.speedProblems.sixteen, 16]] as const) {
    const samples = thresholds.map(() => [] as number[]);
    for (let round = 0; round < o.rounds; round++) {
      for (let k = 0; k < thresholds.length; k++) {
        const i = (k + round) % thresholds.length;
        const r = await runSet(server, model, problems, concurrency, gate(thresholds[i]));
        samples[i].push(r.completionTokens / r.seconds);
      }
    }
    samples.forEach((xs, i) => {
      rows[i].tokensPerSecond[key] = median(xs);
      // Each round's figure against the same round's ungated one: the machine's load drifts less within a round.
      rows[i].speedup[key] = median(xs.map((x, r) => x / samples[0][r]));
    });
  }
  interventions.changed = interventions.changedEntropies.length;
  interventions.changedEntropies.sort((a, b) => a - b);
  return { rows, interventions };
}

/** Why a threshold costs accuracy: the share of the modules' interventions that happen below it. */
export function formatInterventions(iv: Interventions, thresholds: number[]): string {
  const below = (t: number) => iv.changedEntropies.filter((h) => h < t).length / Math.max(1, iv.changed);
  return [
    `ungated, the modules change the base's top token at ${iv.changed} of ${iv.tokens} generated tokens (${((100 * iv.changed) / Math.max(1, iv.tokens)).toFixed(1)}%):`,
    `a gate that skipped exactly the other steps would keep every greedy output and skip ${((100 * (iv.tokens - iv.changed)) / Math.max(1, iv.tokens)).toFixed(1)}% of the steps;`,
    `base entropy at those tokens: median ${percentile(iv.changedEntropies, 50).toFixed(4)} nats, 10th percentile ${percentile(iv.changedEntropies, 10).toFixed(4)};`,
    `share of them below each threshold: ${thresholds.map((t) => `${t}: ${(100 * below(t)).toFixed(1)}%`).join(', ')}`,
  ].join('\n');
}

export function formatGating(rows: GatingRow[]): string {
  const ratio = (x: number, paired: number) => `${x.toFixed(0)} (${paired.toFixed(2)}x)`;
  return table(
    ['entropy gate (nats)', 'add %', 'sort %', 'mixed %', 'module steps skipped', 'tok/s 1 stream', 'tok/s 16 streams'],
    rows.map((r) => [
      r.threshold === 0 ? '0 (ungated)' : String(r.threshold),
      ...SETS.map((s) => r.accuracy[s].toFixed(1)),
      `${(100 * r.skippedShare).toFixed(1)}%`,
      ratio(r.tokensPerSecond.one, r.speedup.one),
      ratio(r.tokensPerSecond.sixteen, r.speedup.sixteen),
    ]),
  );
}

/** The issue's goal: some threshold skips at least half of the module steps and loses at most 1 point on every set. */
export function gatingGoal(rows: GatingRow[]): string {
  const base = rows[0];
  const loss = (r: GatingRow) => Math.max(...SETS.map((s) => base.accuracy[s] - r.accuracy[s]));
  const met = rows.slice(1).filter((r) => r.skippedShare >= 0.5 && loss(r) <= 1);
  if (met.length > 0) return `gating goal (>= 50% of module steps skipped, <= 1 point lost on every set): met at ${met.map((r) => r.threshold).join(', ')} nats`;
  const within = rows.slice(1).filter((r) => loss(r) <= 1);
  const best = within.length > 0 ? within.reduce((a, b) => (b.skippedShare > a.skippedShare ? b : a)) : null;
  return `gating goal (>= 50% of module steps skipped, <= 1 point lost on every set): NOT met; ${best ? `the most skipped within 1 point: ${(100 * best.skippedShare).toFixed(1)}% at ${best.threshold} nats` : 'no threshold stays within 1 point'}`;
}
