import { rewriteCharClasses } from './char-class-rewrite.js';
import { choiceGrammar, type GrammarSpec } from './grammar-spec.js';
import { unsupportedSchemaPart } from './schema-support.js';
import type { Grammar, StructuralTagLike, XgrammarModule } from './xgrammar.js';

/**
 * A spec as an xgrammar Grammar (parsed, not yet compiled against a vocabulary: no tokenizer needed, a few ms).
 * Every way a spec can be wrong (a bad schema, regex, EBNF or structural tag) fails here.
 *
 * JSON is compact (no free whitespace: `{"a": 1, "b": [2, 3]}`, json.dumps' separators), as vLLM's
 * `disable_any_whitespace`: small and random models otherwise spend their tokens on whitespace.
 */
export async function grammarOf(xg: XgrammarModule, spec: GrammarSpec): Promise<Grammar> {
  switch (spec.kind) {
    case 'json_schema':
      return xg.Grammar.fromEBNF(await jsonGrammar(xg, JSON.stringify(spec.schema), true));
    case 'json_object':
      return xg.Grammar.fromEBNF(await jsonGrammar(xg, '{"type": "object"}', false));
    case 'regex':
      return xg.Grammar.fromEBNF(await regexGrammar(xg, spec.pattern));
    case 'choice':
      return xg.Grammar.fromEBNF(choiceGrammar(spec.choices));
    case 'ebnf':
      return xg.Grammar.fromEBNF(rewriteCharClasses(spec.grammar));
    case 'structural_tag':
      return xg.Grammar.fromStructuralTag((await compactTag(xg, spec.tag)) as StructuralTagLike);
  }
}

/**
 * The EBNF of a JSON schema, compact (one line, json.dumps' separators). xgrammar's rule for a string with
 * minLength / maxLength lets raw control characters (U+0000-U+001F but CR and LF) into the string, which JSON
 * forbids; the rule is narrowed to what its plain string rule allows. A schema using a keyword xgrammar does not
 * enforce, or nested too deep for it, is refused (schema-support.ts).
 */
async function jsonGrammar(xg: XgrammarModule, schema: string, strict: boolean): Promise<string> {
  const unsupported = unsupportedSchemaPart(JSON.parse(schema));
  if (unsupported) throw new Error(unsupported);
  const ebnf = await xg.Testings._jsonSchemaToEBNF(schema, false, ONE_LINE, SEPARATORS, strict);
  return rewriteCharClasses(ebnf.replaceAll('[^"\\\\\\r\\n]', '[^"\\\\\\0-\\x1f]'));
}

/** A regex as EBNF (xgrammar's own conversion, printed), its character classes rewritten. */
async function regexGrammar(xg: XgrammarModule, pattern: string): Promise<string> {
  const grammar = await xg.Grammar.fromStructuralTag({ type: 'structural_tag', format: { type: 'regex', pattern } } as StructuralTagLike);
  try {
    return rewriteCharClasses(grammar.toString());
  } finally {
    grammar.dispose();
  }
}

/** A structural tag whose json_schema parts are compact JSON grammars (xgrammar's own allow any whitespace there). */
async function compactTag(xg: XgrammarModule, node: unknown): Promise<unknown> {
  if (Array.isArray(node)) return Promise.all(node.map((n) => compactTag(xg, n)));
  if (!node || typeof node !== 'object') return node;
  const n = node as Record<string, unknown>;
  if (n.type === 'json_schema' && 'json_schema' in n) {
    const schema = typeof n.json_schema === 'string' ? n.json_schema : JSON.stringify(n.json_schema);
    return { type: 'grammar', grammar: await jsonGrammar(xg, schema, true) };
  }
  if (n.type === 'regex' && typeof n.pattern === 'string') return { type: 'grammar', grammar: await regexGrammar(xg, n.pattern) };
  if (n.type === 'grammar' && typeof n.grammar === 'string') return { type: 'grammar', grammar: rewriteCharClasses(n.grammar) };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(n)) out[k] = await compactTag(xg, v);
  return out;
}

/** xgrammar's indent -1: the whole value on one line. */
const ONE_LINE = -1;
/** json.dumps' separators. */
const SEPARATORS: [string, string] = [', ', ': '];

/** What a spec is called in error messages. */
export function describeSpec(spec: GrammarSpec): string {
  return { json_schema: 'JSON schema', json_object: 'JSON object grammar', regex: 'regex', choice: 'choice list', ebnf: 'grammar', structural_tag: 'structural tag' }[spec.kind];
}
