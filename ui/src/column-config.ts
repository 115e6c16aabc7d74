import type { GenerateMessage } from './protocol.js';

/** One module in a column: whether it is fused, and its weight as typed (the server checks the range). */
export interface ModuleSetting {
  name: string;
  enabled: boolean;
  weight: string;
}

/** A column's settings as its form holds them (strings as typed; blank means the server's default). */
export interface ColumnConfig {
  modules: ModuleSetting[];
  temperature: string;
  seed: string;
  maxTokens: string;
  ignoreEos: boolean;
}

/** A setting that cannot be sent; `field` names it for the message. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Base alone, or base + every module at its default weight: the two columns the page opens with. */
export function defaultConfig(modules: readonly { name: string; default_weight: number }[], withModules: boolean): ColumnConfig {
  return {
    modules: modules.map((m) => ({ name: m.name, enabled: withModules, weight: String(m.default_weight) })),
    temperature: '0',
    seed: '',
    maxTokens: '64',
    ignoreEos: false,
  };
}

/** "base", or "base + add ×1 + sort ×0.5". */
export function columnLabel(config: ColumnConfig): string {
  const used = config.modules.filter((m) => m.enabled);
  return ['base', ...used.map((m) => `${m.name} ×${m.weight.trim() || '?'}`)].join(' + ');
}

/**
 * The `generate` message for a column. Throws ConfigError for what is not a number; ranges are left to the
 * server, whose error names the field (so the page shows exactly what the API would say).
 */
export function generateMessage(id: string, prompt: string | number[], config: ColumnConfig, withAttribution: boolean): GenerateMessage {
  const reasoners = config.modules
    .filter((m) => m.enabled)
    .map((m) => ({ name: m.name, weight: number(m.weight, `the weight of ${m.name}`, `weight-${m.name}`) }));
  const msg: GenerateMessage = {
    type: 'generate',
    id,
    prompt,
    // An explicit [] for base alone: the server's --default-reasoners must not creep into the base column.
    reasoners,
    max_tokens: number(config.maxTokens, 'max tokens', 'max-tokens'),
  };
  if (config.temperature.trim() !== '') msg.temperature = number(config.temperature, 'the temperature', 'temperature');
  if (config.seed.trim() !== '') msg.seed = number(config.seed, 'the seed', 'seed');
  if (config.ignoreEos) msg.ignore_eos = true;
  if (withAttribution) msg.return_attribution = true;
  return msg;
}

function number(text: string, what: string, field: string): number {
  const t = text.trim();
  const n = t === '' ? Number.NaN : Number(t);
  if (!Number.isFinite(n)) throw new ConfigError(`${what} is not a number${t ? ` (${JSON.stringify(t)})` : ''}`, field);
  return n;
}
