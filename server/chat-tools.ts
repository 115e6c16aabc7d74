import { UnirError } from '../common/errors.js';
import type { AppContext } from './app-context.js';
import { checkTemplateRendersTools } from './chat-prompt.js';
import { forcedToolCallTag, guessToolCallParser, type ToolCallParserName } from './chat-output/tool-call-parser.js';
import type { ChatOutputParsers } from './chat-output/choice-output.js';
import type { ReasoningParserName } from './chat-output/reasoning-parser.js';
import type { RequestGrammar } from './structured-output.js';
import type { ToolBody } from './schemas/tool-schema.js';

/** The tool-call parser in force: --tool-call-parser, or for `auto` the one the chat template implies (null: none). */
export function toolCallParserOf(ctx: AppContext): ToolCallParserName | null {
  const chosen = ctx.options.toolCallParser;
  if (chosen === 'none') return null;
  if (chosen !== 'auto') return chosen as ToolCallParserName;
  return ctx.chatTemplate ? guessToolCallParser(ctx.chatTemplate.source) : null;
}

/**
 * What a chat request's tools mean: how its replies are parsed, and for tool_choice "required" or a named
 * function the structural-tag grammar that forces the calls. Refuses tool_choice without tools, a named
 * function that is not among them, and tools on a model with no tool-call parser.
 */
export function planTools(ctx: AppContext, body: ToolBody): { parsers: ChatOutputParsers; grammar: RequestGrammar | null } {
  const tools = body.tools && body.tools.length > 0 ? body.tools : null;
  const choice = body.tool_choice ?? (tools ? 'auto' : 'none');
  const reasoning = (ctx.options.reasoningParser ?? null) as ReasoningParserName | null;
  const parallel = body.parallel_tool_calls ?? true;
  if (!tools) {
    if (choice !== 'none' && body.tool_choice !== undefined && body.tool_choice !== null) {
      throw new UnirError('invalid_request', `tool_choice ${JSON.stringify(choice)} needs tools`, 'tool_choice');
    }
    return { parsers: { reasoning, toolCalls: null, parallelToolCalls: parallel }, grammar: null };
  }
  checkTemplateRendersTools(ctx);
  if (choice === 'none') return { parsers: { reasoning, toolCalls: null, parallelToolCalls: parallel }, grammar: null };
  const parser = toolCallParserOf(ctx);
  if (!parser) {
    throw new UnirError(
      'invalid_request',
      `tool calls cannot be read back from ${ctx.modelId}: its chat template has no known tool-call syntax; start the server with --tool-call-parser hermes or llama3_json`,
      'tools',
    );
  }
  const parsers = { reasoning, toolCalls: parser, parallelToolCalls: parallel };
  if (choice === 'auto') return { parsers, grammar: null };
  const signatures = tools.map((t) => ({ name: t.function.name, parameters: t.function.parameters }));
  if (choice === 'required') return { parsers, grammar: { spec: { kind: 'structural_tag', tag: forcedToolCallTag(parser, signatures, 'required', parallel) }, param: 'tools' } };
  const named = signatures.find((s) => s.name === choice.function.name);
  if (!named) throw new UnirError('invalid_request', `tool_choice names function "${choice.function.name}", which is not in tools`, 'tool_choice');
  return { parsers, grammar: { spec: { kind: 'structural_tag', tag: forcedToolCallTag(parser, [named], 'named', parallel) }, param: 'tools' } };
}
