import { describe, expect, test } from 'vitest';
import { GrammarProbe } from '../../../grammar/grammar-probe.js';
import { MAX_SCHEMA_DEPTH } from '../../../grammar/schema-support.js';

/** Schemas whose keyword xgrammar 0.1.27 accepts but does not hold the output to (see grammar/schema-support.ts). */
const UNENFORCED: [string, object][] = [
  ['"not" at #/properties/s', { type: 'object', properties: { s: { type: 'string', not: { const: 'a' } } } }],
  ['"multipleOf" at #/items', { type: 'array', items: { type: 'integer', multipleOf: 3 } }],
  ['"uniqueItems" at #', { type: 'array', items: { enum: [1, 2] }, uniqueItems: true }],
  ['"contains" at #', { type: 'array', contains: { const: 7 } }],
  ['"if" at #', { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, if: { required: ['a'] }, then: { required: ['b'] } }],
  ['"dependentRequired" at #/$defs/x~1y', { $defs: { 'x/y': { type: 'object', dependentRequired: { a: ['b'] } } }, $ref: '#/$defs/x~1y' }],
  ['"allOf" at #', { type: 'object', properties: { a: { type: 'integer' } }, allOf: [{ required: ['a'] }] }],
  ['"maximum" at #/anyOf/0', { anyOf: [{ type: 'number', maximum: 3 }, { type: 'null' }] }],
  ['"minimum" at #', { type: 'number', minimum: -1.5 }],
  ['"minimum" at #/properties/x', { type: 'object', properties: { x: { type: 'number', minimum: 5 } } }],
  ['"exclusiveMinimum" at #', { type: ['number', 'null'], exclusiveMinimum: 0 }],
];

/** `levels` objects, each holding the next as property "a", around an integer. */
function nested(levels: number): object {
  let schema: object = { type: 'integer' };
  for (let i = 0; i < levels; i++) schema = { type: 'object', properties: { a: schema }, required: ['a'] };
  return schema;
}

describe('specs xgrammar does not enforce, or cannot take, are refused saying why', () => {
  const probe = new GrammarProbe();

  test.each(UNENFORCED)('%s', async (where, schema) => {
    await expect(probe.check({ kind: 'json_schema', schema })).rejects.toThrow(where);
    await expect(probe.check({ kind: 'json_schema', schema })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  test('a schema nested deeper than MAX_SCHEMA_DEPTH is refused by name (xgrammar overflowed its stack from about 55 objects: "memory access out of bounds"); one at the limit compiles', async () => {
    await expect(probe.check({ kind: 'json_schema', schema: nested(MAX_SCHEMA_DEPTH + 15) })).rejects.toThrow(`is nested more than ${MAX_SCHEMA_DEPTH} subschemas deep`);
    await probe.check({ kind: 'json_schema', schema: nested(MAX_SCHEMA_DEPTH) });
  });

  test('what xgrammar enforces still compiles: integer bounds, minimum 0 on a number, a lone allOf beside a description (pydantic v1), enum and property names that look like keywords', async () => {
    const defs = { $defs: { P: { type: 'object', properties: { q: { type: 'integer', minimum: -2, exclusiveMaximum: 9 } }, required: ['q'] } } };
    await probe.check({ kind: 'json_schema', schema: { ...defs, type: 'object', properties: { p: { allOf: [{ $ref: '#/$defs/P' }], description: 'd' }, not: { enum: [{ minimum: 1 }] }, price: { type: 'number', minimum: 0 } } } });
  });

  test('an xgrammar error without a message is said so, not shown as a number (an empty regex gave "cannot be compiled: 140800")', async () => {
    await expect(probe.check({ kind: 'regex', pattern: '' })).rejects.toThrow('the regex cannot be compiled: xgrammar gave no reason');
  });
});
