import { describe, expect, test } from 'vitest';
import { ChoiceOutput, replyMessage, type ChatOutputParsers } from '../../../server/chat-output/choice-output.js';
import { ReasoningSplitter } from '../../../server/chat-output/reasoning-parser.js';
import { forcedToolCallTag, guessToolCallParser, ToolCallExtractor } from '../../../server/chat-output/tool-call-parser.js';
import { scanForTag } from '../../../server/chat-output/tag-scanner.js';

/** The reply's message when fed whole, and when fed in pieces split at every pair of positions. */
function parseEveryWay(parsers: ChatOutputParsers, text: string) {
  const strip = (m: ReturnType<typeof replyMessage>) => ({ ...m, tool_calls: m.tool_calls?.map((c) => c.function) });
  const whole = new ChoiceOutput(parsers);
  const expected = strip(replyMessage([...whole.push(text), ...whole.finish()]));
  for (let a = 0; a <= text.length; a++) {
    for (let b = a; b <= text.length; b += 3) {
      const o = new ChoiceOutput(parsers);
      const deltas = [...o.push(text.slice(0, a)), ...o.push(text.slice(a, b)), ...o.push(text.slice(b)), ...o.finish()];
      expect(strip(replyMessage(deltas))).toEqual(expected);
    }
  }
  return expected;
}

const hermes: ChatOutputParsers = { reasoning: null, toolCalls: 'hermes', parallelToolCalls: true };

describe('reply parsing (the same whole or streamed in any pieces)', () => {
  test('hermes: calls out of <tool_call> blocks, text outside stays content, a block that is not a call stays as written', () => {
    const text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call><tool_call>not json</tool_call>';
    expect(parseEveryWay(hermes, text)).toEqual({
      content: 'Let me check.\n\n<tool_call>not json</tool_call>',
      tool_calls: [{ name: 'get_weather', arguments: '{"city": "Paris"}' }, { name: 'f', arguments: '{}' }],
    });
  });

  test('hermes: a call starts when its head {"name": ..., "arguments": is read, then its arguments stream in fragments as the tokens come', () => {
    const o = new ChoiceOutput(hermes);
    const pieces = ['<tool_', 'call>\n{"na', 'me": "get_', 'weather", "argu', 'ments": {"ci', 'ty": "Pa', 'ris", "n": [1, ', '{"x": "}"}]', '}}\n</tool', '_call>'];
    const deltas = pieces.map((p) => o.push(p));
    deltas.push(o.finish());
    // Nothing until the head is complete; then the call's first delta, and fragments of the arguments' text.
    expect(deltas.slice(0, 4).flat()).toEqual([]);
    expect(deltas[4]).toEqual([{ tool_call: { index: 0, id: expect.stringMatching(/^call_/), name: 'get_weather' } }, { tool_arguments: { index: 0, fragment: '{"ci' } }]);
    const fragments = deltas.flat().flatMap((d) => ('tool_arguments' in d ? [d.tool_arguments.fragment] : []));
    expect(fragments.length).toBeGreaterThanOrEqual(4);
    expect(fragments.join('')).toBe('{"city": "Paris", "n": [1, {"x": "}"}]}');
    expect(replyMessage(deltas.flat()).tool_calls![0].function).toEqual({ name: 'get_weather', arguments: '{"city": "Paris", "n": [1, {"x": "}"}]}' });
  });

  test('hermes: a call with its keys in another order is read whole at </tool_call> (json.dumps\' separators)', () => {
    expect(parseEveryWay(hermes, '<tool_call>{"arguments": {"a": [1,2]}, "name": "f"}</tool_call>')).toEqual({ content: null, tool_calls: [{ name: 'f', arguments: '{"a": [1, 2]}' }] });
  });

  test('hermes: a block cut before its name is content, after it a call with the arguments written so far; parallel_tool_calls false keeps the first call', () => {
    expect(parseEveryWay(hermes, 'a<tool_call>{"name": "f"')).toEqual({ content: 'a<tool_call>{"name": "f"' });
    expect(parseEveryWay(hermes, 'a<tool_call>{"name": "f", "arguments": {"x": ')).toEqual({ content: 'a', tool_calls: [{ name: 'f', arguments: '{"x": ' }] });
    const two = '<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call><tool_call>{"name": "g", "arguments": {}}</tool_call>';
    expect(parseEveryWay({ ...hermes, parallelToolCalls: false }, two)).toEqual({ content: null, tool_calls: [{ name: 'f', arguments: '{"x": 1}' }] });
  });

  test('llama3_json: calls separated by ";", "parameters" as arguments, streamed; text after the calls is content; a reply that is not calls is content', () => {
    const p: ChatOutputParsers = { reasoning: null, toolCalls: 'llama3_json', parallelToolCalls: true };
    expect(parseEveryWay(p, ' {"name": "f", "parameters": {"a": "b"}, "x": {"}": 1}}; {"name": "g", "parameters": {}}')).toEqual({
      content: null,
      tool_calls: [{ name: 'f', arguments: '{"a": "b"}' }, { name: 'g', arguments: '{}' }],
    });
    expect(parseEveryWay(p, '{"name": "f", "parameters": {}} and more')).toEqual({ content: 'and more', tool_calls: [{ name: 'f', arguments: '{}' }] });
    expect(parseEveryWay(p, '{"parameters": {"a":1}, "name": "f"}')).toEqual({ content: null, tool_calls: [{ name: 'f', arguments: '{"a": 1}' }] });
    expect(parseEveryWay(p, '{"nam": 1} x')).toEqual({ content: '{"nam": 1} x' });
    expect(parseEveryWay(p, 'Hello {"name": "f"}')).toEqual({ content: 'Hello {"name": "f"}' });
  });

  test('qwen3 reasoning: <think> opens reasoning, </think> ends it; no <think> means all content', () => {
    const p: ChatOutputParsers = { reasoning: 'qwen3', toolCalls: null, parallelToolCalls: true };
    expect(parseEveryWay(p, '<think>\nLet me add.\n</think>\n\nIt is 4.')).toEqual({ content: '\n\nIt is 4.', reasoning_content: '\nLet me add.\n' });
    expect(parseEveryWay(p, 'It is 4 <think>')).toEqual({ content: 'It is 4 <think>' });
    expect(parseEveryWay(p, '<think>cut short')).toEqual({ content: '', reasoning_content: 'cut short' });
  });

  test('deepseek_r1 reasoning: everything before </think> (the prompt opened <think>)', () => {
    const p: ChatOutputParsers = { reasoning: 'deepseek_r1', toolCalls: null, parallelToolCalls: true };
    expect(parseEveryWay(p, 'thinking</think>answer')).toEqual({ content: 'answer', reasoning_content: 'thinking' });
    expect(parseEveryWay(p, '<think>t</think>a')).toEqual({ content: 'a', reasoning_content: 't' });
    expect(parseEveryWay(p, 'no end')).toEqual({ content: '', reasoning_content: 'no end' });
  });

  test('reasoning first, then tool calls out of the content', () => {
    const p: ChatOutputParsers = { reasoning: 'qwen3', toolCalls: 'hermes', parallelToolCalls: true };
    expect(parseEveryWay(p, '<think>need weather</think>\n<tool_call>{"name": "w", "arguments": {"c": 1}}</tool_call>')).toEqual({
      content: null,
      reasoning_content: 'need weather',
      tool_calls: [{ name: 'w', arguments: '{"c": 1}' }],
    });
  });
});

test('scanForTag holds back only a possible start of the tag', () => {
  expect(scanForTag('abc<tool', '<tool_call>')).toEqual({ before: 'abc', found: false, rest: '<tool' });
  expect(scanForTag('abc<x', '<tool_call>')).toEqual({ before: 'abc<x', found: false, rest: '' });
  expect(scanForTag('a</think>b', '</think>')).toEqual({ before: 'a', found: true, rest: 'b' });
});

test('ReasoningSplitter holds a partial "<think>" at the start until it is decided', () => {
  const s = new ReasoningSplitter('qwen3');
  expect(s.push('<th')).toEqual([]);
  expect(s.push('ink>x')).toEqual([{ reasoning: 'x' }]);
  expect(new ToolCallExtractor('hermes').push('<tool_')).toEqual([]);
});

test('the tool-call parser is guessed from the template, and forced calls are a structural tag in the model\'s syntax', () => {
  expect(guessToolCallParser('... <tool_call>\\n{"name": ...')).toBe('hermes');
  expect(guessToolCallParser('{"name": function name, "parameters": dictionary ...}')).toBe('llama3_json');
  expect(guessToolCallParser('{{ message.content }}')).toBeNull();
  const params = { type: 'object', properties: { city: { type: 'string' } } };
  expect(forcedToolCallTag('hermes', [{ name: 'w', parameters: params }], 'named', true)).toEqual({
    type: 'structural_tag',
    format: { type: 'tag', begin: '<tool_call>\n{"name": "w", "arguments": ', content: { type: 'json_schema', json_schema: params }, end: '}\n</tool_call>' },
  });
  const required = forcedToolCallTag('llama3_json', [{ name: 'a', parameters: undefined }, { name: 'b', parameters: params }], 'required', false) as { format: Record<string, unknown> };
  expect(required.format).toMatchObject({ type: 'tags_with_separator', separator: '; ', at_least_one: true, stop_after_first: true });
});
