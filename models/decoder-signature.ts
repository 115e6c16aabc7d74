import type { InferenceSession } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import type { ModelConfig } from './model-config.js';

export type KvDtype = 'float32' | 'float16';

/**
 * Where a row's cached positions sit in a batch's KV tensors. 'right': the last columns, padding first (plain
 * attention with a mask, as Optimum exports). 'left': the first columns (com.microsoft GroupQueryAttention, as
 * the ORT-GenAI builder emits it, reads each row's past from column 0 up to seqlens_k and appends there).
 */
export type KvAlignment = 'right' | 'left';

/** The operator that makes an export keep its KV cache left-aligned. */
export const GROUP_QUERY_ATTENTION = 'com.microsoft.GroupQueryAttention';

/** The input and output names and KV geometry of a decoder export, read from its session, never assumed. */
export interface DecoderSignature {
  inputIdsType: 'int64' | 'int32';
  hasPositionIds: boolean;
  /** `num_logits_to_keep` (older transformers) or `logits_to_keep`; null when the export has neither. */
  logitsToKeepInput: string | null;
  pastKeyNames: string[];
  pastValueNames: string[];
  presentKeyNames: string[];
  presentValueNames: string[];
  kvDtype: KvDtype;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** Rows of the logits output (the padded vocabulary). */
  vocabSize: number;
  kvAlignment: KvAlignment;
}

type Meta = InferenceSession.ValueMetadata;

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = /^present\.(\d+)\.(key|value)$/;

export function readDecoderSignature(
  session: Pick<InferenceSession, 'inputMetadata' | 'outputMetadata'>,
  config: ModelConfig,
  onnxPath: string,
  /** The graph's operators (readOnnxFileInfo), which tell the KV alignment. */
  operators: readonly string[] = [],
): DecoderSignature {
  const fail = (what: string): never => {
    throw new UnirError('invalid_model_dir', `${onnxPath}: ${what}`);
  };
  const inputs = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const outputs = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const inputIds = inputs.get('input_ids') ?? fail('the graph has no input_ids input');
  const inputIdsType = tensorType(inputIds);
  if (inputIdsType !== 'int64' && inputIdsType !== 'int32') fail(`input_ids is ${inputIdsType}, expected int64`);
  if (!inputs.has('attention_mask')) fail('the graph has no attention_mask input');
  const logits = outputs.get('logits') ?? fail('the graph has no logits output');

  const pastKeys = layerNames(inputs, PAST, 'key');
  const pastValues = layerNames(inputs, PAST, 'value');
  if (pastKeys.length === 0) {
    fail('the graph has no past_key_values.* inputs: export it with a KV cache (optimum task text-generation-with-past)');
  }
  if (pastKeys.length !== config.numLayers || pastValues.length !== config.numLayers) {
    fail(`the graph has ${pastKeys.length} past key and ${pastValues.length} past value inputs, ${config.source} says ${config.numLayers} layers`);
  }
  const presentKeys = pastKeys.map((_, i) => `present.${i}.key`);
  const presentValues = pastKeys.map((_, i) => `present.${i}.value`);
  for (const name of [...presentKeys, ...presentValues]) if (!outputs.has(name)) fail(`the graph has no ${name} output`);
  for (const name of [...outputs.keys()]) {
    if (name !== 'logits' && !PRESENT.test(name)) fail(`unexpected output ${name}`);
  }

  const kvDtype = tensorType(inputs.get(pastKeys[0])!);
  if (kvDtype !== 'float32' && kvDtype !== 'float16') fail(`past key/value type ${kvDtype} is not supported (float32 or float16)`);
  for (const name of [...pastKeys, ...pastValues]) {
    const m = inputs.get(name)!;
    if (tensorType(m) !== kvDtype) fail(`${name} is ${tensorType(m)} while ${pastKeys[0]} is ${kvDtype}`);
    const dims = shape(m);
    if (dims.length !== 4) fail(`${name} has rank ${dims.length}, expected [batch, kv_heads, past_length, head_dim]`);
    if (typeof dims[1] === 'number' && dims[1] !== config.numKvHeads) {
      fail(`${name} has ${dims[1]} KV heads, ${config.source} says ${config.numKvHeads} (num_key_value_heads)`);
    }
    if (typeof dims[3] === 'number' && dims[3] !== config.headDim) {
      fail(`${name} has head size ${dims[3]}, ${config.source} says ${config.headDim}`);
    }
  }
  const logitDims = shape(logits);
  const vocabDim = logitDims[2];
  if (typeof vocabDim === 'number' && vocabDim !== config.vocabSize) {
    fail(`logits have ${vocabDim} rows, ${config.source} says vocab_size ${config.vocabSize}`);
  }
  const keep = ['num_logits_to_keep', 'logits_to_keep'].find((n) => inputs.has(n)) ?? null;
  const known = new Set(['input_ids', 'attention_mask', 'position_ids', ...pastKeys, ...pastValues, ...(keep ? [keep] : [])]);
  for (const name of inputs.keys()) if (!known.has(name)) fail(`unexpected input ${name}: unir-serve feeds decoder-only exports`);
  return {
    inputIdsType: inputIdsType as 'int64' | 'int32',
    hasPositionIds: inputs.has('position_ids'),
    logitsToKeepInput: keep,
    pastKeyNames: pastKeys,
    pastValueNames: pastValues,
    presentKeyNames: presentKeys,
    presentValueNames: presentValues,
    kvDtype: kvDtype as KvDtype,
    numLayers: config.numLayers,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    vocabSize: config.vocabSize,
    kvAlignment: operators.includes(GROUP_QUERY_ATTENTION) ? 'left' : 'right',
  };
}

function layerNames(inputs: Map<string, Meta>, pattern: RegExp, kind: 'key' | 'value'): string[] {
  const layers: number[] = [];
  for (const name of inputs.keys()) {
    const m = pattern.exec(name);
    if (m && m[2] === kind) layers.push(Number(m[1]));
  }
  layers.sort((a, b) => a - b);
  return layers.map((i, idx) => {
    if (i !== idx) throw new UnirError('invalid_model_dir', `past_key_values layers are not numbered 0..n-1 (found ${layers.join(',')})`);
    return `past_key_values.${i}.${kind}`;
  });
}

function tensorType(m: Meta): string {
  return m.isTensor ? m.type : 'non-tensor';
}

function shape(m: Meta): ReadonlyArray<number | string> {
  return m.isTensor ? m.shape : [];
}
