import { createHash } from 'node:crypto';

/**
 * What a request constrains its output to, in plain data (it crosses to the engine worker):
 *   json_schema     OpenAI's response_format json_schema, vLLM's guided_json / structured_outputs.json
 *   json_object     any JSON object (response_format json_object)
 *   regex           vLLM's guided_regex / structured_outputs.regex
 *   choice          one of these strings exactly (guided_choice / structured_outputs.choice)
 *   ebnf            an EBNF grammar in xgrammar's dialect, root rule `root` (guided_grammar / structured_outputs.grammar)
 *   structural_tag  an xgrammar structural tag (tool_choice required / named, structured_outputs.structural_tag)
 */
export type GrammarSpec =
  | { kind: 'json_schema'; schema: unknown }
  | { kind: 'json_object' }
  | { kind: 'regex'; pattern: string }
  | { kind: 'choice'; choices: string[] }
  | { kind: 'ebnf'; grammar: string }
  | { kind: 'structural_tag'; tag: Record<string, unknown> };

/** The cache key of a spec: a SHA-256 of its JSON (the same spec compiles once per tokenizer). */
export function grammarKey(spec: GrammarSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

/** An EBNF grammar that accepts exactly one of `choices` (strings escaped as EBNF string literals). */
export function choiceGrammar(choices: readonly string[]): string {
  return `root ::= ${choices.map((c) => JSON.stringify(c)).join(' | ')}`;
}
