/**
 * JSON-schema keywords that xgrammar (0.1.27) accepts but does not enforce, or enforces wrongly, found by
 * reading the EBNF it makes and by sampling: `not`, `if`/`then`/`else`, `dependentRequired`/`dependentSchemas`,
 * `multipleOf`, `uniqueItems` are dropped; `contains` becomes "the empty array"; an `allOf` beside other
 * keywords makes the schema accept any JSON value; bounds on `type: "number"` let the bound itself through
 * when exclusive, let `3.5` through `maximum: 3`, and turn a fractional bound into invalid JSON (`-1텡5` for
 * `minimum: -1.5`), all but `minimum: 0` alone. A grammar with them would produce output the schema rejects,
 * so such a schema is refused (vLLM refuses a similar list, multipleOf, uniqueItems, contains..., when its
 * backend is xgrammar). Bounds on `type: "integer"` are exact.
 */
const UNENFORCED = ['not', 'if', 'then', 'else', 'dependentRequired', 'dependentSchemas', 'multipleOf', 'uniqueItems', 'contains', 'minContains', 'maxContains'];
const NUMBER_BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];
/** Keywords that only describe: an `allOf` of one schema beside these alone is that schema (pydantic v1 writes it). */
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', 'deprecated', 'readOnly', 'writeOnly']);
const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions'];
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const SCHEMAS = ['items', 'additionalProperties', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'additionalItems'];
/**
 * Subschemas nested deeper than this are refused: xgrammar's converter recurses on the WebAssembly stack and
 * overflows it ("memory access out of bounds") from about 55 nested objects or 70 nested arrays.
 */
export const MAX_SCHEMA_DEPTH = 40;

/**
 * Why xgrammar would not hold generated JSON to `schema` (the first such keyword and its JSON pointer, e.g.
 * `"multipleOf" at #/properties/n`, or a nesting too deep for it), or null when it can.
 */
export function unsupportedSchemaPart(schema: unknown, path = '#', depth = 0): string | null {
  if (Array.isArray(schema)) {
    for (let i = 0; i < schema.length; i++) {
      const found = unsupportedSchemaPart(schema[i], `${path}/${i}`, depth);
      if (found) return found;
    }
    return null;
  }
  if (!schema || typeof schema !== 'object') return null;
  if (depth > MAX_SCHEMA_DEPTH) return `the schema at ${path} is nested more than ${MAX_SCHEMA_DEPTH} subschemas deep, more than xgrammar's converter can take`;
  const s = schema as Record<string, unknown>;
  for (const k of UNENFORCED) if (k in s) return `"${k}" at ${path} is not enforced by xgrammar: the output could break the schema`;
  if (Array.isArray(s.allOf) && !(s.allOf.length === 1 && Object.keys(s).every((k) => k === 'allOf' || ANNOTATIONS.has(k)))) {
    return `"allOf" at ${path} is enforced by xgrammar only as a single schema with nothing but annotations beside it`;
  }
  // `minimum: 0` alone is the one bound on numbers xgrammar gets right (it writes `[1-9] [0-9]*` as the integer
  // part above a bound, so `minimum: 5` lets 1.5 through).
  const nonNegative = s.minimum === 0 && NUMBER_BOUNDS.every((k) => k === 'minimum' || !(k in s));
  if (s.type !== 'integer' && !nonNegative) {
    for (const k of NUMBER_BOUNDS) if (k in s) return `"${k}" at ${path} is not enforced by xgrammar on numbers (it is on "type": "integer"; on numbers only "minimum": 0 alone is)`;
  }
  for (const k of SCHEMA_MAPS) {
    const map = s[k];
    if (!map || typeof map !== 'object') continue;
    for (const [name, sub] of Object.entries(map)) {
      const found = unsupportedSchemaPart(sub, `${path}/${k}/${escapePointer(name)}`, depth + 1);
      if (found) return found;
    }
  }
  for (const k of [...SCHEMA_LISTS, ...SCHEMAS]) {
    if (!(k in s)) continue;
    const found = unsupportedSchemaPart(s[k], `${path}/${k}`, depth + 1);
    if (found) return found;
  }
  return null;
}

/** A name as a JSON-pointer segment (RFC 6901). */
function escapePointer(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}
