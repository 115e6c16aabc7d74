/**
 * JSON-schema keywords that xgrammar (0.1.27) accepts but does not enforce, or enforces wrongly, found by
 * reading the EBNF it makes and by sampling: `not`, `if`/`then`/`else`, `dependentRequired`/`dependentSchemas`,
 * `multipleOf`, `uniqueItems` are dropped; `contains` becomes "the empty array"; an `allOf` beside other
 * keywords makes the schema accept any JSON value; bounds on `type: "number"` let the bound itself through
 * when exclusive, let `3.5` through `maximum: 3`, and turn a fractional bound into invalid JSON (`-1텡5` for
 * `minimum: -1.5`). A grammar with them would produce output the schema rejects, so such a schema is refused
 * (vLLM refuses the same family when its backend is xgrammar). Bounds on `type: "integer"` are exact.
 */
const UNENFORCED = ['not', 'if', 'then', 'else', 'dependentRequired', 'dependentSchemas', 'multipleOf', 'uniqueItems', 'contains', 'minContains', 'maxContains'];
const NUMBER_BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];
/** Keywords that only describe: an `allOf` of one schema beside these alone is that schema (pydantic v1 writes it). */
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', 'deprecated', 'readOnly', 'writeOnly']);
const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions'];
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const SCHEMAS = ['items', 'additionalProperties', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'additionalItems'];

/**
 * Why xgrammar would not hold generated JSON to `schema` (the first such keyword and its JSON pointer, e.g.
 * `"multipleOf" at #/properties/n`), or null when every keyword used is enforced.
 */
export function unenforcedKeyword(schema: unknown, path = '#'): string | null {
  if (Array.isArray(schema)) {
    for (let i = 0; i < schema.length; i++) {
      const found = unenforcedKeyword(schema[i], `${path}/${i}`);
      if (found) return found;
    }
    return null;
  }
  if (!schema || typeof schema !== 'object') return null;
  const s = schema as Record<string, unknown>;
  for (const k of UNENFORCED) if (k in s) return `"${k}" at ${path} is not enforced by xgrammar`;
  if (Array.isArray(s.allOf) && !(s.allOf.length === 1 && Object.keys(s).every((k) => k === 'allOf' || ANNOTATIONS.has(k)))) {
    return `"allOf" at ${path} is enforced by xgrammar only as a single schema with nothing but annotations beside it`;
  }
  if (s.type !== 'integer') {
    for (const k of NUMBER_BOUNDS) if (k in s) return `"${k}" at ${path} is not enforced by xgrammar on numbers (it is on "type": "integer")`;
  }
  for (const k of SCHEMA_MAPS) {
    const map = s[k];
    if (!map || typeof map !== 'object') continue;
    for (const [name, sub] of Object.entries(map)) {
      const found = unenforcedKeyword(sub, `${path}/${k}/${escapePointer(name)}`);
      if (found) return found;
    }
  }
  for (const k of [...SCHEMA_LISTS, ...SCHEMAS]) {
    if (!(k in s)) continue;
    const found = unenforcedKeyword(s[k], `${path}/${k}`);
    if (found) return found;
  }
  return null;
}

/** A name as a JSON-pointer segment (RFC 6901). */
function escapePointer(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}
