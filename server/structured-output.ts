import { UnirError } from '../common/errors.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import type { AppContext } from './app-context.js';
import type { StructuredOutputBody } from './schemas/structured-output-schema.js';

/** A request's grammar and the field it came from (named in errors). */
export interface RequestGrammar {
  spec: GrammarSpec;
  param: string;
}

/**
 * The grammar a request asks for through response_format, structured_outputs (vLLM's current form) or the
 * older guided_* fields; null for plain text. More than one source, or more than one constraint in
 * structured_outputs, is a 400: the server does not guess which one wins.
 */
export function requestGrammar(body: StructuredOutputBody): RequestGrammar | null {
  const found: RequestGrammar[] = [];
  const rf = body.response_format;
  if (rf && rf.type === 'json_object') found.push({ spec: { kind: 'json_object' }, param: 'response_format' });
  if (rf && rf.type === 'json_schema') {
    const schema = rf.json_schema?.schema;
    if (!schema) throw new UnirError('invalid_request', 'response_format json_schema needs json_schema.schema (a JSON schema object)', 'response_format.json_schema.schema');
    found.push({ spec: { kind: 'json_schema', schema }, param: 'response_format.json_schema.schema' });
  }
  const so = body.structured_outputs;
  if (so) {
    const before = found.length;
    if (so.json !== undefined) found.push({ spec: { kind: 'json_schema', schema: parsedJson(so.json, 'structured_outputs.json') }, param: 'structured_outputs.json' });
    if (so.regex !== undefined) found.push({ spec: { kind: 'regex', pattern: so.regex }, param: 'structured_outputs.regex' });
    if (so.choice !== undefined) found.push({ spec: { kind: 'choice', choices: so.choice }, param: 'structured_outputs.choice' });
    if (so.grammar !== undefined) found.push({ spec: { kind: 'ebnf', grammar: so.grammar }, param: 'structured_outputs.grammar' });
    if (so.json_object === true) found.push({ spec: { kind: 'json_object' }, param: 'structured_outputs.json_object' });
    if (so.structural_tag !== undefined) {
      found.push({ spec: { kind: 'structural_tag', tag: parsedJson(so.structural_tag, 'structured_outputs.structural_tag') as Record<string, unknown> }, param: 'structured_outputs.structural_tag' });
    }
    if (found.length === before) throw new UnirError('invalid_request', 'structured_outputs names no constraint: give one of json, regex, choice, grammar, json_object, structural_tag', 'structured_outputs');
  }
  if (body.guided_json !== undefined && body.guided_json !== null) found.push({ spec: { kind: 'json_schema', schema: parsedJson(body.guided_json, 'guided_json') }, param: 'guided_json' });
  if (typeof body.guided_regex === 'string') found.push({ spec: { kind: 'regex', pattern: body.guided_regex }, param: 'guided_regex' });
  if (Array.isArray(body.guided_choice)) found.push({ spec: { kind: 'choice', choices: body.guided_choice }, param: 'guided_choice' });
  if (typeof body.guided_grammar === 'string') found.push({ spec: { kind: 'ebnf', grammar: body.guided_grammar }, param: 'guided_grammar' });
  if (found.length > 1) {
    throw new UnirError('invalid_request', `give one output constraint, not several (${found.map((f) => f.param).join(', ')})`, found[1].param);
  }
  return found[0] ?? null;
}

function parsedJson(value: Record<string, unknown> | string, param: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new UnirError('invalid_request', `'${param}' is a string that is not valid JSON`, param);
  }
}

/**
 * Compiles the grammar in the engine (cached there per schema) so that a spec xgrammar cannot compile is a 400
 * naming the field, before the response starts; and refuses options that contradict a grammar.
 */
export async function prepareGrammar(ctx: AppContext, grammar: RequestGrammar, body: { min_tokens?: number | null; ignore_eos?: boolean | null }): Promise<void> {
  if ((body.min_tokens ?? 0) > 0) throw new UnirError('invalid_request', `min_tokens cannot be combined with ${grammar.param}: the grammar decides where the output ends`, 'min_tokens');
  if (body.ignore_eos) throw new UnirError('invalid_request', `ignore_eos cannot be combined with ${grammar.param}: the output ends when the grammar is complete`, 'ignore_eos');
  try {
    await ctx.engine.compileGrammar(grammar.spec);
  } catch (err) {
    if (err instanceof UnirError && err.code === 'invalid_request') throw new UnirError('invalid_request', err.message, grammar.param);
    throw err;
  }
}
