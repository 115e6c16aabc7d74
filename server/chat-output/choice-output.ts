import { randomUUID } from 'node:crypto';
import { ReasoningSplitter, type ReasoningParserName } from './reasoning-parser.js';
import { ToolCallExtractor, type ToolCallParserName, type ToolDelta } from './tool-call-parser.js';

/** A tool call in OpenAI's response shape. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/**
 * One piece of a chat reply: some reasoning, some content, the start of a tool call (index, id, name), or a
 * fragment of a call's arguments (by index), in the order OpenAI streams them.
 */
export type ChatDelta =
  | { reasoning_content: string }
  | { content: string }
  | { tool_call: { index: number; id: string; name: string } }
  | { tool_arguments: { index: number; fragment: string } };

/** How a chat reply's text is read back: the reasoning parser and the tool-call parser in force (null: none). */
export interface ChatOutputParsers {
  reasoning: ReasoningParserName | null;
  toolCalls: ToolCallParserName | null;
  /** parallel_tool_calls: false keeps only the first call. */
  parallelToolCalls: boolean;
}

/**
 * Turns one choice's generated text, chunk by chunk, into reasoning, content and tool calls: first the
 * reasoning parser splits off <think>...</think>, then the tool-call parser reads calls out of the content.
 * A whole reply is the same pushes followed by finish(), so streamed and plain responses agree.
 */
export class ChoiceOutput {
  private readonly reasoning: ReasoningSplitter | null;
  private readonly tools: ToolCallExtractor | null;
  private calls = 0;
  /** The call whose arguments are streaming is dropped (parallel_tool_calls: false, not the first call). */
  private dropping = false;

  constructor(private readonly parsers: ChatOutputParsers) {
    this.reasoning = parsers.reasoning ? new ReasoningSplitter(parsers.reasoning) : null;
    this.tools = parsers.toolCalls ? new ToolCallExtractor(parsers.toolCalls) : null;
  }

  /** Tool calls produced so far. */
  get toolCallCount(): number {
    return this.calls;
  }

  push(text: string): ChatDelta[] {
    if (!text) return [];
    return this.route(this.reasoning ? this.reasoning.push(text) : [{ content: text }], false);
  }

  finish(): ChatDelta[] {
    return this.route(this.reasoning ? this.reasoning.finish() : [], true);
  }

  private route(parts: { reasoning?: string; content?: string }[], end: boolean): ChatDelta[] {
    const out: ChatDelta[] = [];
    for (const p of parts) {
      if (p.reasoning) out.push({ reasoning_content: p.reasoning });
      if (p.content) this.content(p.content, out);
    }
    if (end && this.tools) this.toolDeltas(this.tools.finish(), out);
    return out;
  }

  private content(text: string, out: ChatDelta[]): void {
    if (!this.tools) out.push({ content: text });
    else this.toolDeltas(this.tools.push(text), out);
  }

  private toolDeltas(deltas: ToolDelta[], out: ChatDelta[]): void {
    for (const d of deltas) {
      if ('content' in d) {
        if (d.content) out.push({ content: d.content });
      } else if ('callStart' in d) {
        this.dropping = !this.parsers.parallelToolCalls && this.calls > 0;
        if (this.dropping) continue;
        const id = `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
        out.push({ tool_call: { index: this.calls++, id, name: d.callStart } });
      } else if (!this.dropping && d.args) {
        out.push({ tool_arguments: { index: this.calls - 1, fragment: d.args } });
      }
    }
  }
}

/** A whole reply's message fields from its deltas: content (null when empty and there are tool calls), reasoning_content, tool_calls. */
export function replyMessage(deltas: readonly ChatDelta[]): { content: string | null; reasoning_content?: string; tool_calls?: ToolCall[] } {
  let content = '';
  let reasoning: string | null = null;
  const calls: ToolCall[] = [];
  for (const d of deltas) {
    if ('content' in d) content += d.content;
    else if ('reasoning_content' in d) reasoning = (reasoning ?? '') + d.reasoning_content;
    else if ('tool_call' in d) calls[d.tool_call.index] = { id: d.tool_call.id, type: 'function', function: { name: d.tool_call.name, arguments: '' } };
    else calls[d.tool_arguments.index].function.arguments += d.tool_arguments.fragment;
  }
  return {
    content: calls.length > 0 && content.trim() === '' ? null : content,
    ...(reasoning !== null ? { reasoning_content: reasoning } : {}),
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
}
