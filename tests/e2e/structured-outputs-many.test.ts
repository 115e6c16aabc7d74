import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { RunningServer } from '../../server/start.js';
import { startTestServer } from '../helpers/server.js';
import { sampleJsonSchema, SCHEMA } from '../helpers/json-schema-sampling.js';

let server: RunningServer;
beforeAll(async () => {
  // The tiny fixture (a byte-level BPE of 307 ids): the grammar path is the same as at 151,936 ids, the sampling far cheaper.
  server = await startTestServer();
});
afterAll(() => server?.close());

test('1,008 sampled json_schema generations (temperature 1, 1,008 seeds) are all valid for the schema and valid UTF-8', async () => {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const t0 = performance.now();
  const outputs = await sampleJsonSchema(client, server.ctx.modelId, 63, 240);
  const seconds = (performance.now() - t0) / 1000;
  const validate = new Ajv().compile(SCHEMA);
  expect(outputs.length).toBe(1008);
  expect(outputs.filter((o) => !validate(JSON.parse(o)))).toEqual([]);
  // Strings of any characters did take characters beyond ASCII (so UTF-8 was exercised).
  expect(outputs.filter((o) => /[^\x00-\x7f]/.test(JSON.parse(o).name)).length).toBeGreaterThan(50);
  // Sampling varied: many distinct outputs, not one forced string.
  expect(new Set(outputs).size).toBeGreaterThan(200);
  console.log(`${outputs.length} json_schema generations in ${seconds.toFixed(1)} s, ${new Set(outputs).size} distinct`);
}, 300_000);
