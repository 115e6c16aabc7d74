import type { DoneEvent, TokenEvent } from '../engine/generation-request.js';
import type { TopToken } from '../kernels/token-attribution.js';
import type { TextTokenizer } from '../models/text-tokenizer.js';

/** One token's attribution on the wire (docs/attribution.md); field names as in the OpenAI API, snake_case. */
export interface AttributionEntry {
  token_id: number;
  token: string;
  base_top: WireTop;
  fused_top: WireTop;
  changed: boolean;
  base_entropy: number;
  modules: { name: string; weight: number; chosen: number; base_top: number; skipped: boolean }[];
}

interface WireTop {
  token_id: number;
  token: string;
  logprob: number;
}

/** Turns the engine's attributions into wire entries, naming modules by the names the request used. */
export class AttributionFormatter {
  private readonly names: Map<number, string>;

  constructor(
    private readonly tokenizer: TextTokenizer,
    uses: readonly { versionId: number }[],
    names: readonly string[],
  ) {
    this.names = new Map(uses.map((u, i) => [u.versionId, names[i]]));
  }

  /** The entry of a token event; undefined when the event carries no attribution (not asked for). */
  entry(e: TokenEvent): AttributionEntry | undefined {
    const a = e.attribution;
    if (!a) return undefined;
    return {
      token_id: e.tokenId,
      token: this.tokenizer.tokenText(e.tokenId),
      base_top: this.top(a.baseTop),
      fused_top: this.top(a.fusedTop),
      changed: a.fusedTop.id !== a.baseTop.id,
      base_entropy: a.baseEntropy,
      modules: a.modules.map((m) => ({ name: this.names.get(m.versionId) ?? `version ${m.versionId}`, weight: m.weight, chosen: m.chosen, base_top: m.baseTop, skipped: m.skipped })),
    };
  }

  private top(t: TopToken): WireTop {
    // JSON has no -Infinity; as logprobs do, a ruled-out token reads as vLLM's -9999.
    return { token_id: t.id, token: this.tokenizer.tokenText(t.id), logprob: t.logprob < -9999 ? -9999 : t.logprob };
  }
}

/**
 * The usage extensions of a finished request, summed over its choices: `attribution` (tokens attributed, tokens
 * where the fused top differs from the base's) when asked for, `reasoner_gate` (module steps the sequences needed,
 * those the entropy gate skipped, tokens fed to modules in catch-up runs) when a gate was on.
 */
export function usageExtensions(dones: readonly (DoneEvent | null)[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const attributed = dones.filter((d) => d?.attribution);
  if (attributed.length > 0) {
    out.attribution = {
      tokens: attributed.reduce((n, d) => n + d!.attribution!.tokens, 0),
      changed: attributed.reduce((n, d) => n + d!.attribution!.changed, 0),
    };
  }
  const gated = dones.filter((d) => d?.gate);
  if (gated.length > 0) {
    out.reasoner_gate = {
      module_steps: gated.reduce((n, d) => n + d!.gate!.moduleSteps, 0),
      skipped: gated.reduce((n, d) => n + d!.gate!.skipped, 0),
      caught_up_tokens: gated.reduce((n, d) => n + d!.gate!.caughtUpTokens, 0),
    };
  }
  return out;
}
