import { UnirError } from '../common/errors.js';

/**
 * Rewrites the character classes of an EBNF grammar (xgrammar's dialect) that name characters beyond ASCII
 * into forms xgrammar 0.1.27 (WebAssembly) matches correctly.
 *
 * Why: measured on its byte-level matcher, a positive class with non-ASCII members does not match those
 * characters: `[à-ÿ]` never lets the model write "à" (it offers lone bytes E0-FF instead), `[\u0100-\u017f]`
 * lets ASCII through, and `.` (`[\0-\U0010ffff]`) counts bytes, not characters. What it does match right are
 * string literals and negated classes whose excluded characters are ASCII. So:
 *   - a positive class whose non-ASCII part is everything from U+0080 up (`.`, `[\0-\U0010ffff]`) becomes the
 *     negated class of the ASCII it leaves out (`[^]` when it leaves out nothing);
 *   - another positive class becomes an alternation of its ASCII part and one string literal per non-ASCII
 *     character (`[a-zà-ÿ]` -> `([a-z] | "à" | ... | "ÿ")`), up to MAX_EXPANDED characters; beyond that the
 *     grammar is refused (a 400 that names the class);
 *   - a negated class keeps only its ASCII exclusions (xgrammar drops the others anyway, with a warning):
 *     `[^é]` then also allows é.
 * Surrogates (U+D800-DFFF) count as covered: UTF-8 cannot encode them (the UTF-8 token mask blocks them).
 */
export function rewriteCharClasses(ebnf: string): string {
  let out = '';
  let i = 0;
  while (i < ebnf.length) {
    const c = ebnf[i];
    if (c === '"' || c === "'") {
      const end = skipQuoted(ebnf, i, c);
      out += ebnf.slice(i, end);
      i = end;
    } else if (c === '#') {
      const end = ebnf.indexOf('\n', i);
      const stop = end === -1 ? ebnf.length : end;
      out += ebnf.slice(i, stop);
      i = stop;
    } else if (c === '[') {
      const { cls, end } = parseClass(ebnf, i);
      out += cls.ranges.some(([, hi]) => hi >= ASCII_END) ? rewrite(cls, ebnf.slice(i, end)) : ebnf.slice(i, end);
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Non-ASCII characters a positive class may name as literals (measured: 2,048 literals compile in ~1 s at a 152k vocabulary). */
export const MAX_EXPANDED = 2048;
const ASCII_END = 0x80;
const MAX_CODEPOINT = 0x10ffff;
const SURROGATES: [number, number] = [0xd800, 0xdfff];

interface CharClass {
  negated: boolean;
  /** Inclusive code point ranges. */
  ranges: [number, number][];
}

function rewrite(cls: CharClass, source: string): string {
  const ascii = clip(cls.ranges, 0, ASCII_END - 1);
  if (cls.negated) return `[^${printRanges(ascii)}]`;
  const wide = merge([...clip(cls.ranges, ASCII_END, MAX_CODEPOINT), SURROGATES]);
  if (wide.length === 1 && wide[0][0] === ASCII_END && wide[0][1] === MAX_CODEPOINT) return `[^${printRanges(complement(ascii))}]`;
  const chars = subtract(wide, SURROGATES);
  const count = chars.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
  if (count > MAX_EXPANDED) {
    throw new UnirError(
      'invalid_request',
      `the character class ${source} names ${count} characters beyond ASCII: the grammar engine (xgrammar's WebAssembly build) matches non-ASCII characters only as literals, and at most ${MAX_EXPANDED} are expanded; use a negated class such as [^...] or list the characters`,
    );
  }
  const alternatives = ascii.length > 0 ? [`[${printRanges(ascii)}]`] : [];
  for (const [lo, hi] of chars) for (let cp = lo; cp <= hi; cp++) alternatives.push(`"\\U${cp.toString(16).padStart(8, '0')}"`);
  return `(${alternatives.join(' | ')})`;
}

function parseClass(text: string, start: number): { cls: CharClass; end: number } {
  let i = start + 1;
  const negated = text[i] === '^';
  if (negated) i++;
  const ranges: [number, number][] = [];
  const readChar = (): number => {
    if (text[i] !== '\\') {
      const cp = text.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = text[i + 1];
    const hex = (len: number) => {
      const cp = parseInt(text.slice(i + 2, i + 2 + len), 16);
      i += 2 + len;
      return cp;
    };
    if (e === 'x') return hex(2);
    if (e === 'u') return hex(4);
    if (e === 'U') return hex(8);
    i += 2;
    return ESCAPES[e] ?? e.codePointAt(0)!;
  };
  while (i < text.length && text[i] !== ']') {
    const lo = readChar();
    if (text[i] === '-' && text[i + 1] !== ']' && i + 1 < text.length) {
      i++;
      ranges.push([lo, readChar()]);
    } else ranges.push([lo, lo]);
  }
  return { cls: { negated, ranges }, end: i + 1 };
}

const ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11, b: 8, a: 7, e: 27, '0': 0 };

function skipQuoted(text: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < text.length && text[i] !== quote) i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}

function clip(ranges: [number, number][], lo: number, hi: number): [number, number][] {
  return merge(ranges.filter(([a, b]) => b >= lo && a <= hi).map(([a, b]) => [Math.max(a, lo), Math.min(b, hi)]));
}

function merge(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

function subtract(ranges: [number, number][], [lo, hi]: [number, number]): [number, number][] {
  return ranges.flatMap(([a, b]): [number, number][] => [
    ...(a < lo ? [[a, Math.min(b, lo - 1)] as [number, number]] : []),
    ...(b > hi ? [[Math.max(a, hi + 1), b] as [number, number]] : []),
  ]);
}

/** The ASCII code points not in `ranges`. */
function complement(ranges: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let next = 0;
  for (const [a, b] of ranges) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next < ASCII_END) out.push([next, ASCII_END - 1]);
  return out;
}

function printRanges(ranges: [number, number][]): string {
  const one = (cp: number) => `\\x${cp.toString(16).padStart(2, '0')}`;
  return ranges.map(([a, b]) => (a === b ? one(a) : `${one(a)}-${one(b)}`)).join('');
}
