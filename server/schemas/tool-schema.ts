/** Tool-calling request fields of chat completions, in OpenAI's shapes. */
export const toolProperties = {
  tools: {
    type: ['array', 'null'],
    maxItems: 128,
    items: {
      type: 'object',
      required: ['type', 'function'],
      properties: {
        type: { type: 'string', enum: ['function'] },
        function: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
            description: { type: 'string' },
            parameters: { type: 'object' },
            strict: { type: ['boolean', 'null'] },
          },
        },
      },
    },
    default: null,
    description: 'Functions the model may call, passed to the chat template as transformers does. Calls in the model\'s syntax (--tool-call-parser) come back as message.tool_calls.',
  },
  tool_choice: {
    anyOf: [
      { type: 'string', enum: ['none', 'auto', 'required'] },
      { type: 'object', required: ['type', 'function'], properties: { type: { type: 'string', enum: ['function'] }, function: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } } },
      { type: 'null' },
    ],
    description: '"auto" (default with tools): the model chooses; "none": no calls are parsed; "required" or {"type": "function", "function": {"name"}}: a grammar forces one or more calls (of that function) with arguments valid for its parameters schema.',
  },
  parallel_tool_calls: { type: ['boolean', 'null'], default: true, description: 'false: at most one call (forced calls stop after the first; parsed calls beyond the first are dropped).' },
} as const;

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ToolBody {
  tools?: ToolDefinition[] | null;
  tool_choice?: ToolChoice | null;
  parallel_tool_calls?: boolean | null;
}

/** A tool call in an assistant message of the request. */
export interface ToolCallBody {
  id?: string;
  type?: 'function';
  function: { name: string; arguments: string };
}
