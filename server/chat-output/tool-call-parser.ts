import { scanForTag } from './tag-scanner.js';

/** vLLM's --tool-call-parser names implemented here. */
export const TOOL_CALL_PARSERS = ['hermes', 'llama3_json'] as const;
export type ToolCallParserName = (typeof TOOL_CALL_PARSERS)[number];

/** A call as the model wrote it: the function's name and its arguments as a JSON string. */
export interface ParsedToolCall {
  name: string;
  arguments: string;
}

export interface ToolDelta {
  content?: string;
  call?: ParsedToolCall;
}

/**
 * The parser a chat template implies, as `--tool-call-parser auto` guesses it: Hermes / Qwen templates ask for
 * <tool_call>...</tool_call>; Llama 3.1 / 3.2 JSON templates ask for {"name": ..., "parameters": ...}.
 */
export function guessToolCallParser(templateSource: string): ToolCallParserName | null {
  if (templateSource.includes('<tool_call>')) return 'hermes';
  if (/"parameters"/.test(templateSource) || templateSource.includes('<|python_tag|>')) return 'llama3_json';
  return null;
}

/** A call object from the model's JSON: {"name", "arguments"} (Hermes) or {"name", "parameters"} (Llama 3). */
function callOf(json: string): ParsedToolCall | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return null;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const { name, arguments: args, parameters } = parsed as Record<string, unknown>;
  const value = args ?? parameters ?? {};
  if (typeof name !== 'string' || !value || typeof value !== 'object' || Array.isArray(value)) return null;
  return { name, arguments: JSON.stringify(value) };
}

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';

/**
 * Pulls tool calls out of a reply fed chunk by chunk (the same parse for streamed and whole replies).
 *   hermes       each <tool_call>{"name": ..., "arguments": {...}}</tool_call> block is a call; text outside
 *                the blocks is content; a block that is not such JSON stays in the content as written
 *   llama3_json  a reply that opens with "{" is held to the end and read as calls {"name", "parameters"}
 *                separated by "; "; if any part is not a call, the whole reply is content
 */
export class ToolCallExtractor {
  private held = '';
  private inCall = false;
  /** llama3_json: null until the first non-space character decides. */
  private jsonReply: boolean | null = null;

  constructor(private readonly parser: ToolCallParserName) {}

  push(text: string): ToolDelta[] {
    this.held += text;
    return this.parser === 'hermes' ? this.pushHermes() : this.pushLlama();
  }

  finish(): ToolDelta[] {
    const held = this.held;
    this.held = '';
    if (this.parser === 'hermes') return held ? [{ content: this.inCall ? OPEN + held : held }] : [];
    if (!this.jsonReply) return held ? [{ content: held }] : [];
    const calls = held.trim().split(/\s*;\s*(?=\{)/).map(callOf);
    if (calls.length > 0 && calls.every((c) => c !== null)) return calls.map((call) => ({ call: call! }));
    return [{ content: held }];
  }

  private pushHermes(): ToolDelta[] {
    const out: ToolDelta[] = [];
    for (;;) {
      if (!this.inCall) {
        const { before, found, rest } = scanForTag(this.held, OPEN);
        if (before) out.push({ content: before });
        this.held = rest;
        if (!found) return out;
        this.inCall = true;
      }
      const end = this.held.indexOf(CLOSE);
      if (end === -1) return out;
      const body = this.held.slice(0, end);
      const call = callOf(body.trim());
      out.push(call ? { call } : { content: OPEN + body + CLOSE });
      this.held = this.held.slice(end + CLOSE.length);
      this.inCall = false;
    }
  }

  private pushLlama(): ToolDelta[] {
    if (this.jsonReply === null) {
      const start = this.held.trimStart();
      if (start === '') return [];
      this.jsonReply = start.startsWith('{');
    }
    if (this.jsonReply) return [];
    const content = this.held;
    this.held = '';
    return content ? [{ content }] : [];
  }
}

/** Tool definitions as the forced-call grammar needs them. */
export interface ToolSignature {
  name: string;
  parameters: Record<string, unknown> | undefined;
}

/**
 * The xgrammar structural tag that forces tool calls in the model's own syntax, each call's arguments valid
 * for its function's parameters schema: one call of `tools[0]` for a named tool_choice, one or more calls of
 * any of `tools` for "required" (only one when parallel calls are off).
 */
export function forcedToolCallTag(parser: ToolCallParserName, tools: readonly ToolSignature[], mode: 'required' | 'named', parallel: boolean): Record<string, unknown> {
  const tags = tools.map((t) => {
    const name = JSON.stringify(t.name);
    const [begin, end] = parser === 'hermes' ? [`${OPEN}\n{"name": ${name}, "arguments": `, `}\n${CLOSE}`] : [`{"name": ${name}, "parameters": `, '}'];
    return { type: 'tag', begin, content: { type: 'json_schema', json_schema: t.parameters ?? { type: 'object' } }, end };
  });
  if (mode === 'named') return { type: 'structural_tag', format: tags[0] };
  return {
    type: 'structural_tag',
    format: { type: 'tags_with_separator', tags, separator: parser === 'hermes' ? '\n' : '; ', at_least_one: true, stop_after_first: !parallel },
  };
}
