import { argmax } from './argmax.js';
import { entropy } from './entropy.js';
import { fuseLogits, type WeightedRow } from './fuse-logits.js';
import { logSoftmaxStats } from './logprobs.js';

/** A token and its logprob (natural log) under one distribution. */
export interface TopToken {
  id: number;
  logprob: number;
}

/** One module's share of a step's fused logits: weight × its logit, at the chosen token and at the base's top token. */
export interface ModuleContribution {
  versionId: number;
  weight: number;
  chosen: number;
  baseTop: number;
  /** The module did not run at this step (its entropy gate was closed): both contributions are 0. */
  skipped: boolean;
}

/** What the modules changed at one decoding step (the wire format is notes/ATTRIBUTION.md, in docs/). */
export interface TokenAttribution {
  /** argmax of the base's own logits, and its logprob under softmax(base logits). */
  baseTop: TopToken;
  /** argmax of the fused logits (before processors and sampling), and its logprob under softmax(fused). */
  fusedTop: TopToken;
  /** Entropy of softmax(base logits) in nats: what the entropy gate compares with its threshold. */
  baseEntropy: number;
  modules: ModuleContribution[];
}

/** A module's row at a step, or null when its gate was closed and it did not run. */
export interface ModuleRow {
  versionId: number;
  weight: number;
  row: Float32Array | null;
}

/**
 * Attribution of one sampled token. `modules` in fusion order: the fused logits are recomputed into `scratch`
 * (length: the base vocabulary) with fuseLogits over the modules that ran, in that order, so they are bit for bit
 * the logits the sequence sampled from. A module row shorter than the base contributes 0 past its end and a
 * weight-0 module contributes 0, as in fusion. O(V × (modules + 3)); computed only when a request asks for it.
 */
export function attributeToken(baseRow: Float32Array, modules: readonly ModuleRow[], chosen: number, scratch: Float32Array): TokenAttribution {
  const terms: WeightedRow[] = [];
  for (const m of modules) if (m.row) terms.push({ row: m.row, weight: m.weight });
  const fused = fuseLogits(scratch, baseRow, terms);
  const baseTopId = argmax(baseRow);
  const fusedTopId = argmax(fused);
  // Both logprobs from logSoftmaxStats, as the response's logprobs: with no module run they are equal.
  const baseEntropy = entropy(baseRow);
  const contribution = (m: ModuleRow, id: number) => (m.row === null || m.weight === 0 || id >= m.row.length ? 0 : m.weight * m.row[id]);
  return {
    baseTop: { id: baseTopId, logprob: baseRow[baseTopId] - logSoftmaxStats(baseRow).logSumExp },
    fusedTop: { id: fusedTopId, logprob: fused[fusedTopId] - logSoftmaxStats(fused).logSumExp },
    baseEntropy,
    modules: modules.map((m) => ({
      versionId: m.versionId,
      weight: m.weight,
      chosen: contribution(m, chosen),
      baseTop: contribution(m, baseTopId),
      skipped: m.row === null,
    })),
  };
}

