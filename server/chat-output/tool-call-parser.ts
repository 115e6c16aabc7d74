import { scanForTag } from './tag-scanner.js';
import { JsonValueScanner, pythonJsonDumps, readCallHead } from './tool-call-json.js';

/** vLLM's --tool-call-parser names implemented here. */
export const TOOL_CALL_PARSERS = ['hermes', 'llama3_json'] as const;
export type ToolCallParserName = (typeof TOOL_CALL_PARSERS)[number];

/** A call as the model wrote it: the function's name and its arguments as a JSON string. */
export interface ParsedToolCall {
  name: string;
  arguments: string;
}

/** A piece of a reply: text, the start of a tool call (its name), or a fragment of that call's arguments. */
export type ToolDelta = { content: string } | { callStart: string } | { args: string };

/**
 * The parser a chat template implies, as `--tool-call-parser auto` guesses it: Hermes / Qwen templates ask for
 * <tool_call>...</tool_call>; Llama 3.1 / 3.2 JSON templates ask for {"name": ..., "parameters": ...}.
 */
export function guessToolCallParser(templateSource: string): ToolCallParserName | null {
  if (templateSource.includes('<tool_call>')) return 'hermes';
  if (/"parameters"/.test(templateSource) || templateSource.includes('<|python_tag|>')) return 'llama3_json';
  return null;
}

/** A whole call object (any key order) from the model's JSON: {"name", "arguments"} (Hermes) or {"name", "parameters"} (Llama 3). */
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
  return { name, arguments: pythonJsonDumps(value) };
}

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';

type Mode =
  /** hermes: outside a block; llama3_json: before the reply's first character */
  | 'text'
  /** reading a call's head `{"name": ..., "arguments": ` */
  | 'head'
  /** streaming the arguments value */
  | 'args'
  /** after the arguments: the rest of the call (up to </tool_call>; Llama 3: the call object's closing brace) */
  | 'tail'
  /** llama3_json: between calls (a "; " separator, or the end) */
  | 'between'
  /** a block whose head is not `{"name": ..., "arguments": ` (another key order): held whole, parsed at its end */
  | 'whole'
  /** llama3_json: the rest of the reply is content */
  | 'content';

/**
 * Pulls tool calls out of a reply fed chunk by chunk, streaming each call's arguments as they are written
 * (the same deltas for streamed and whole replies, so concatenated fragments equal the whole reply's arguments):
 *   hermes       each <tool_call>{"name": ..., "arguments": {...}}</tool_call> block is a call, decided when its
 *                name is read; its arguments are the value's text as written. A block with the keys in another
 *                order is read whole at </tool_call> (arguments as json.dumps writes them); a block that is not
 *                a call stays in the content as written. Text outside the blocks is content.
 *   llama3_json  a reply that opens with `{"name": ..., "parameters": ` is calls separated by ";"; text after the
 *                last call is content. A reply that opens with another "{" is read whole at the end (calls
 *                separated by "; " in any key order, else all content); any other reply is content.
 */
export class ToolCallExtractor {
  private held = '';
  private mode: Mode = 'text';
  private value = new JsonValueScanner();
  /** Tail of a Llama 3 call: the call object's nesting left to close. */
  private tail = new JsonValueScanner();
  private calls = 0;

  constructor(private readonly parser: ToolCallParserName) {}

  push(text: string): ToolDelta[] {
    this.held += text;
    const out: ToolDelta[] = [];
    while (this.step(out));
    return out;
  }

  finish(): ToolDelta[] {
    const out = this.push('');
    const held = this.held;
    this.held = '';
    if (this.mode === 'whole' && this.parser === 'llama3_json') {
      const calls = held.trim().split(/\s*;\s*(?=\{)/).map(callOf);
      if (calls.length > 0 && calls.every((c) => c !== null)) for (const c of calls) out.push({ callStart: c!.name }, { args: c!.arguments });
      else out.push({ content: held });
    } else if (this.mode === 'whole' || (this.mode === 'head' && this.parser === 'hermes')) out.push({ content: OPEN + held });
    else if (held && (this.mode === 'text' || this.mode === 'head' || this.mode === 'content')) out.push({ content: held });
    return out;
  }

  /** One move of the state machine over the held text; false when it needs more text. */
  private step(out: ToolDelta[]): boolean {
    switch (this.mode) {
      case 'text':
        return this.parser === 'hermes' ? this.hermesText(out) : this.llamaStart(out);
      case 'head': {
        const head = readCallHead(this.held);
        if (head === 'more') return false;
        if (head === 'no') {
          if (this.parser === 'hermes' || this.calls === 0) return this.to('whole');
          return this.to('content');
        }
        this.calls++;
        out.push({ callStart: head.name });
        this.held = this.held.slice(head.end);
        this.value = new JsonValueScanner();
        return this.to('args');
      }
      case 'args': {
        const { value, rest } = this.value.feed(this.held);
        if (value) out.push({ args: value });
        this.held = rest;
        if (!this.value.done) return false;
        this.tail = new JsonValueScanner();
        this.tail.feed('{');
        return this.to('tail');
      }
      case 'tail':
        return this.parser === 'hermes' ? this.skipPast(CLOSE, 'text') : this.llamaTail();
      case 'between': {
        const rest = this.held.trimStart();
        if (!rest) return false;
        if (rest.startsWith(';')) {
          this.held = rest.slice(1);
          return this.to('head');
        }
        this.held = rest;
        return this.to('content');
      }
      case 'whole': {
        if (this.parser === 'llama3_json') return false;
        const end = this.held.indexOf(CLOSE);
        if (end === -1) return false;
        const body = this.held.slice(0, end);
        const call = callOf(body.trim());
        if (call) {
          this.calls++;
          out.push({ callStart: call.name }, { args: call.arguments });
        } else out.push({ content: OPEN + body + CLOSE });
        this.held = this.held.slice(end + CLOSE.length);
        return this.to('text');
      }
      case 'content':
        if (this.held) out.push({ content: this.held });
        this.held = '';
        return false;
    }
  }

  private to(mode: Mode): boolean {
    this.mode = mode;
    return true;
  }

  private hermesText(out: ToolDelta[]): boolean {
    const { before, found, rest } = scanForTag(this.held, OPEN);
    if (before) out.push({ content: before });
    this.held = rest;
    return found ? this.to('head') : false;
  }

  private llamaStart(out: ToolDelta[]): boolean {
    const start = this.held.trimStart();
    if (start === '') return false;
    if (start.startsWith('{')) return this.to('head');
    out.push({ content: this.held });
    this.held = '';
    return this.to('content');
  }

  /** Llama 3: the rest of the call object (keys after the arguments included), then between calls. */
  private llamaTail(): boolean {
    const { rest } = this.tail.feed(this.held);
    this.held = rest;
    return this.tail.done ? this.to('between') : false;
  }

  /** Drops held text up to and including `tag` (held back while the tag may be incomplete). */
  private skipPast(tag: string, next: Mode): boolean {
    const end = this.held.indexOf(tag);
    if (end === -1) {
      this.held = scanForTag(this.held, tag).rest;
      return false;
    }
    this.held = this.held.slice(end + tag.length);
    return this.to(next);
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
