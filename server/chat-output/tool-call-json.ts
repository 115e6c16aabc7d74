/**
 * Reading a tool call's JSON as it streams in: the head `{"name": "...", "arguments": ` (decides that a call
 * starts and names it), then the arguments value, whose end is found by tracking strings and nesting.
 */

/** Outcome of reading a call's head: the function name and where the arguments value starts, or not yet, or not a call head. */
export type CallHead = { name: string; end: number } | 'more' | 'no';

/**
 * Reads `{"name": "<name>", "arguments": ` (or `"parameters"`, Llama 3's key) at the start of `text`, with any
 * whitespace between the tokens. 'more' while `text` is a prefix of such a head; 'no' once it cannot be one.
 */
export function readCallHead(text: string): CallHead {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  /** Consumes one of `options`; 'more' if the text ends inside one of them. */
  const literal = (...options: string[]): boolean | 'more' => {
    const rest = text.slice(i);
    const full = options.find((o) => rest.startsWith(o));
    if (full) {
      i += full.length;
      return true;
    }
    return options.some((o) => o.startsWith(rest)) ? 'more' : false;
  };
  let name = '';
  const steps: (() => boolean | 'more')[] = [
    () => literal('{'),
    () => literal('"name"'),
    () => literal(':'),
    () => {
      const at = jsonStringEnd(text, i);
      if (at === 'more' || at === 'no') return at === 'more' ? 'more' : false;
      try {
        name = JSON.parse(text.slice(i, at)) as string;
      } catch {
        return false;
      }
      i = at;
      return true;
    },
    () => literal(','),
    () => literal('"arguments"', '"parameters"'),
    () => literal(':'),
  ];
  for (const step of steps) {
    ws();
    if (i >= text.length) return 'more';
    const r = step();
    if (r === 'more') return 'more';
    if (!r) return 'no';
  }
  return { name, end: i };
}

/** The index just past the JSON string starting at `start`, 'more' if it is not closed yet, 'no' if none starts there. */
function jsonStringEnd(text: string, start: number): number | 'more' | 'no' {
  if (text[start] !== '"') return 'no';
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return 'more';
}

/**
 * Finds where one JSON value ends in text fed piece by piece (leading whitespace is skipped): objects and
 * arrays by their nesting, strings by their closing quote, other values at the first delimiter after them.
 */
export class JsonValueScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  /** The value is complete. */
  done = false;

  /** Feeds `text`: the part that belongs to the value, and what follows it (non-empty only once done). */
  feed(text: string): { value: string; rest: string } {
    let from = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (!this.started) {
        if (/\s/.test(c)) {
          from = i + 1;
          continue;
        }
        this.started = true;
        if (c === '{' || c === '[') this.depth = 1;
        else if (c === '"') this.inString = true;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') {
          this.inString = false;
          if (this.depth === 0) return this.end(text, from, i + 1);
        }
      } else if (this.depth === 0) {
        // A number, true, false or null ends where a delimiter starts.
        if (/[\s,}\]]/.test(c)) return this.end(text, from, i);
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if ((c === '}' || c === ']') && --this.depth === 0) return this.end(text, from, i + 1);
    }
    return { value: text.slice(from), rest: '' };
  }

  private end(text: string, from: number, to: number): { value: string; rest: string } {
    this.done = true;
    return { value: text.slice(from, to), rest: text.slice(to) };
  }
}

/** JSON as Python's json.dumps writes it (", " and ": " separators), as vLLM returns a call's arguments. */
export function pythonJsonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (value && typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonJsonDumps(v)}`).join(', ')}}`;
  return JSON.stringify(value);
}
