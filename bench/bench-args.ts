import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** Benchmarks run on the demo models when they exist, else on the test fixture. */
export const DEMO_BASE = existsSync('demo-models/base/model.onnx') ? 'demo-models/base' : 'tests/fixtures/tiny-mha-f32';
export const DEMO_MODULES = existsSync('demo-models/reasoners/add/model.onnx')
  ? ['demo-models/reasoners/add', 'demo-models/reasoners/sort']
  : ['tests/fixtures/reasoners/r1', 'tests/fixtures/reasoners/r2'];

export function benchArgs<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>>(spec: T) {
  return parseArgs({ options: spec, allowPositionals: false }).values;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(cells[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}
