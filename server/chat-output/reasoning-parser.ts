import { scanForTag } from './tag-scanner.js';

/** vLLM's --reasoning-parser names implemented here. */
export const REASONING_PARSERS = ['qwen3', 'deepseek_r1'] as const;
export type ReasoningParserName = (typeof REASONING_PARSERS)[number];

const START = '<think>';
const END = '</think>';

export interface ReasoningDelta {
  reasoning?: string;
  content?: string;
}

/**
 * Splits a reply into reasoning (inside <think>...</think>) and content, fed chunk by chunk as tokens arrive,
 * as vLLM's parsers of the same names do:
 *   qwen3        reasoning only when the reply opens with <think>; a reply without it is all content
 *                (enable_thinking: false); an unclosed <think> (cut by max_tokens) is all reasoning
 *   deepseek_r1  the template opens <think> in the prompt: everything up to </think> is reasoning (an opening
 *                <think> in the reply is dropped); no </think> means all reasoning
 * The tags themselves appear in neither part.
 */
export class ReasoningSplitter {
  private state: 'start' | 'reasoning' | 'content';
  private held = '';

  constructor(private readonly parser: ReasoningParserName) {
    this.state = 'start';
  }

  push(text: string): ReasoningDelta[] {
    this.held += text;
    const out: ReasoningDelta[] = [];
    for (;;) {
      if (this.state === 'start') {
        if (this.held.startsWith(START)) {
          this.held = this.held.slice(START.length);
          this.state = 'reasoning';
        } else if (START.startsWith(this.held)) {
          return out; // still could be "<think>"
        } else {
          this.state = this.parser === 'deepseek_r1' ? 'reasoning' : 'content';
        }
        continue;
      }
      if (this.state === 'content') {
        if (this.held) out.push({ content: this.held });
        this.held = '';
        return out;
      }
      const { before, found, rest } = scanForTag(this.held, END);
      if (before) out.push({ reasoning: before });
      this.held = rest;
      if (!found) return out;
      this.state = 'content';
    }
  }

  /** The text still held back, in the part it belongs to. */
  finish(): ReasoningDelta[] {
    const held = this.held;
    this.held = '';
    if (!held) return [];
    if (this.state === 'start') return this.parser === 'deepseek_r1' ? [{ reasoning: held }] : [{ content: held }];
    return this.state === 'reasoning' ? [{ reasoning: held }] : [{ content: held }];
  }
}
