import { randomUUID } from 'node:crypto';
import { ReasoningSplitter, type ReasoningParserName } from './reasoning-parser.js';
import { ToolCallExtractor, type ToolCallParserName } from './tool-call-parser.js';

/** A tool call in OpenAI's response shape. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One piece of a chat reply: some reasoning, some content, or one complete tool call (with its index). */
export type ChatDelta = { reasoning_content: string } | { content: string } | { tool_call: ToolCall; index: number };

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

  private toolDeltas(deltas: ReturnType<ToolCallExtractor['push']>, out: ChatDelta[]): void {
    for (const d of deltas) {
      if (d.content) out.push({ content: d.content });
      if (d.call && (this.parsers.parallelToolCalls || this.calls === 0)) {
        const id = `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
        out.push({ tool_call: { id, type: 'function', function: d.call }, index: this.calls++ });
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
    else calls.push(d.tool_call);
  }
  return {
    content: calls.length > 0 && content.trim() === '' ? null : content,
    ...(reasoning !== null ? { reasoning_content: reasoning } : {}),
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
}
