import onnxProto from 'onnx-proto';
import protobuf from 'protobufjs/minimal.js';
import { EXTERNAL, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_NODE, GRAPH_OUTPUT, GRAPH_VALUE_INFO, MODEL_GRAPH, MODEL_METADATA, MODEL_OPSET } from './onnx-field-numbers.js';

const { onnx } = onnxProto;
type NodeMessage = ReturnType<typeof onnx.NodeProto.decode>;

/** The input the rewritten graph gains: how many trailing positions get logits (0: all), as in transformers. */
export const LOGITS_TO_KEEP_INPUT = 'num_logits_to_keep';
/** Bump when the rewrite changes, so cached graphs made by an older one are not reused. */
export const REWRITE_VERSION = 1;

/** Where a graph's fields lie in its bytes (protobuf wire format). */
interface Field {
  number: number;
  /** From the tag to the end of the value. */
  start: number;
  end: number;
  /** The value of a length-delimited field. */
  dataStart: number;
}

export type LogitsRewrite =
  | { kind: 'has-input'; input: string }
  | { kind: 'rewritten'; chunks: Uint8Array[]; externalLocations: string[] }
  | { kind: 'unsafe'; reason: string };

/** TensorProto.DataType.INT64. */
const INT64 = 7;

/** Ops that map each position's row to the same position's row, with constant rank <= 1 operands. */
const POSITION_WISE_UNARY = new Set(['Cast', 'Identity', 'Tanh', 'Sigmoid', 'Relu', 'Neg', 'Softcap']);
const POSITION_WISE_BINARY = new Set(['Add', 'Sub', 'Mul', 'Div']);

/**
 * Rewrites a decoder export whose `logits` output covers every position ([batch, sequence, vocab], no
 * num_logits_to_keep / logits_to_keep input) so the output projection runs on the last N positions only, N being
 * a new int64 scalar input `num_logits_to_keep` (0 keeps all, as in transformers). The result is what an export
 * with that input computes: the runner feeds 1, and a caller that needs every position feeds 0.
 *
 * How: from `logits` back through position-wise ops (Cast, Identity, Tanh and the like, Add/Sub/Mul/Div by a
 * constant of rank <= 1) to the projection, a MatMul by a rank-2 constant (or com.microsoft MatMulNBits), whose
 * output row s depends only on input row s. A Slice of the projection's input on axis 1 (starts = -N) is inserted
 * before it. Every tensor on that path must feed only the next node, and the path's value_info entries (their
 * sequence dimension changes) are dropped. Anything else is 'unsafe', with the reason, and the graph is left as is.
 *
 * The bytes are edited at the protobuf wire level with protobufjs's reader and writer and onnx-proto's
 * messages: only the projection node, the logits output, the new nodes, input and initializers are encoded;
 * every other field (initializers, external-data references, fields newer than onnx-proto's schema) is copied
 * byte for byte. The result is returned as chunks to write one after another.
 */
export function rewriteForLogitsToKeep(model: Uint8Array): LogitsRewrite {
  const buf = toBuffer(model);
  const modelFields = fields(buf, 0, buf.length);
  const graphs = modelFields.filter((f) => f.number === MODEL_GRAPH);
  if (graphs.length !== 1) return { kind: 'unsafe', reason: `the model has ${graphs.length} graph fields` };
  const graphField = graphs[0];
  const opset = defaultOpset(buf, modelFields);
  if (opset < 10) return { kind: 'unsafe', reason: `opset ${opset} has no Slice with inputs (needs 10 or later)` };

  const graphFields = fields(buf, graphField.dataStart, graphField.end);
  const decode = <T>(f: Field, type: { decode(b: Uint8Array): T }): T => type.decode(buf.subarray(f.dataStart, f.end));
  const inputs = graphFields.filter((f) => f.number === GRAPH_INPUT).map((f) => decode(f, onnx.ValueInfoProto));
  const keep = inputs.find((i) => i.name === 'num_logits_to_keep' || i.name === 'logits_to_keep');
  if (keep) return { kind: 'has-input', input: keep.name };

  const nodeFields = graphFields.filter((f) => f.number === GRAPH_NODE);
  const nodes = nodeFields.map((f) => decode(f, onnx.NodeProto));
  const initializerFields = graphFields.filter((f) => f.number === GRAPH_INITIALIZER);
  const initializers = new Map(initializerFields.map((f) => {
    const t = decode(f, onnx.TensorProto);
    return [t.name, t] as const;
  }));
  const outputs = graphFields.filter((f) => f.number === GRAPH_OUTPUT).map((f) => ({ field: f, info: decode(f, onnx.ValueInfoProto) }));
  const logits = outputs.find((o) => o.info.name === 'logits');
  if (!logits) return { kind: 'unsafe', reason: 'the graph has no logits output' };
  const rank = logits.info.type?.tensorType?.shape?.dim?.length;
  if (rank !== 3) return { kind: 'unsafe', reason: `logits are declared with rank ${rank ?? 'unknown'}, not [batch, sequence, vocab]` };

  const path = projectionPath(nodes, initializers, outputs.map((o) => o.info.name));
  if (typeof path === 'string') return { kind: 'unsafe', reason: path };
  const { projection, changed } = path;

  const hidden = nodes[projection].input[0];
  const names = { shape: 'unir_logits_to_keep/shape', ends: 'unir_logits_to_keep/ends', axes: 'unir_logits_to_keep/axes', n: 'unir_logits_to_keep/n', starts: 'unir_logits_to_keep/starts', sliced: 'unir_logits_to_keep/hidden' };
  const newNodes = [
    { opType: 'Reshape', name: 'unir_logits_to_keep/Reshape', input: [LOGITS_TO_KEEP_INPUT, names.shape], output: [names.n] },
    { opType: 'Neg', name: 'unir_logits_to_keep/Neg', input: [names.n], output: [names.starts] },
    { opType: 'Slice', name: 'unir_logits_to_keep/Slice', input: [hidden, names.starts, names.ends, names.axes], output: [names.sliced] },
  ];
  const int64Constant = (name: string, value: bigint) =>
    onnx.TensorProto.encode({ name, dims: [1], dataType: INT64, rawData: Buffer.from(new BigInt64Array([value]).buffer) }).finish();
  const newInitializers = [int64Constant(names.shape, 1n), int64Constant(names.ends, 0x7fffffffffffffffn), int64Constant(names.axes, 1n)];
  const newInput = onnx.ValueInfoProto.encode({ name: LOGITS_TO_KEEP_INPUT, type: { tensorType: { elemType: INT64, shape: { dim: [] } } } }).finish();
  const projectionNode = onnx.NodeProto.encode({ ...nodes[projection], input: [names.sliced, ...nodes[projection].input.slice(1)] }).finish();
  const dims = logits.info.type!.tensorType!.shape!.dim!;
  const logitsOutput = onnx.ValueInfoProto.encode({
    ...logits.info,
    type: { tensorType: { elemType: logits.info.type!.tensorType!.elemType, shape: { dim: [dims[0], { dimParam: 'logits_length' }, dims[2]] } } },
  }).finish();

  const graph: Uint8Array[] = [];
  for (const f of graphFields) {
    if (f.number === GRAPH_NODE && f.start === nodeFields[projection].start) {
      for (const n of newNodes) graph.push(...lengthDelimited(GRAPH_NODE, onnx.NodeProto.encode(n).finish()));
      graph.push(...lengthDelimited(GRAPH_NODE, projectionNode));
    } else if (f.number === GRAPH_OUTPUT && f.start === logits.field.start) {
      graph.push(...lengthDelimited(GRAPH_OUTPUT, logitsOutput));
    } else if (f.number === GRAPH_VALUE_INFO && changed.has(decode(f, onnx.ValueInfoProto).name)) {
      continue;
    } else {
      graph.push(buf.subarray(f.start, f.end));
    }
  }
  graph.push(...lengthDelimited(GRAPH_INPUT, newInput));
  for (const t of newInitializers) graph.push(...lengthDelimited(GRAPH_INITIALIZER, t));

  const graphLength = graph.reduce((n, c) => n + c.length, 0);
  const chunks: Uint8Array[] = [];
  for (const f of modelFields) {
    if (f === graphField) chunks.push(prefix(MODEL_GRAPH, graphLength), ...graph);
    else chunks.push(buf.subarray(f.start, f.end));
  }
  const note = onnx.StringStringEntryProto.encode({ key: 'unir.rewrite', value: `num_logits_to_keep v${REWRITE_VERSION}` }).finish();
  chunks.push(...lengthDelimited(MODEL_METADATA, note));
  return { kind: 'rewritten', chunks, externalLocations: externalLocations(initializers.values()) };
}

/**
 * The projection node feeding `logits` through position-wise ops, and every tensor whose shape the slice
 * changes; or why there is none.
 */
function projectionPath(
  nodes: NodeMessage[],
  initializers: Map<string, { dims: (number | { toNumber(): number })[] }>,
  graphOutputs: string[],
): { projection: number; changed: Set<string> } | string {
  const producer = new Map<string, number>();
  const consumers = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output) producer.set(o, i);
    for (const x of n.input) consumers.set(x, (consumers.get(x) ?? 0) + 1);
  });
  for (const o of graphOutputs) consumers.set(o, (consumers.get(o) ?? 0) + 1);
  const constantRank = (name: string): number | null => {
    const init = initializers.get(name);
    if (init) return init.dims.length;
    const p = producer.get(name);
    const node = p === undefined ? null : nodes[p];
    if (node?.opType === 'Constant') {
      const value = node.attribute.find((a) => a.name === 'value')?.t;
      return value ? (value.dims ?? []).length : null;
    }
    return null;
  };

  const changed = new Set<string>();
  let tensor = 'logits';
  for (;;) {
    changed.add(tensor);
    const p = producer.get(tensor);
    if (p === undefined) return `${tensor} is not computed by a node`;
    const node = nodes[p];
    const domain = node.domain || '';
    const onlyFeedsNext = tensor === 'logits' ? consumers.get(tensor) === 1 : consumers.get(tensor) === 1 && !graphOutputs.includes(tensor);
    if (!onlyFeedsNext) return `${tensor} is used by more than the logits`;
    if (domain === '' && node.opType === 'MatMul') {
      const rank = constantRank(node.input[1]);
      if (rank !== 2) return `the output projection ${node.name || 'MatMul'} does not multiply by a rank-2 constant`;
      return { projection: p, changed };
    }
    if (domain === 'com.microsoft' && node.opType === 'MatMulNBits') return { projection: p, changed };
    if (domain === '' && POSITION_WISE_UNARY.has(node.opType) && node.input.length === 1) {
      tensor = node.input[0];
      continue;
    }
    if (domain === '' && POSITION_WISE_BINARY.has(node.opType) && node.input.length === 2) {
      const [a, b] = node.input;
      const aRank = constantRank(a);
      const bRank = constantRank(b);
      if (bRank !== null && bRank <= 1 && aRank === null) tensor = a;
      else if (aRank !== null && aRank <= 1 && bRank === null) tensor = b;
      else return `${node.opType} ${node.name} on the way to the logits mixes positions or has a constant of rank > 1`;
      continue;
    }
    return `${node.opType} ${node.name} on the way to the logits is not known to work position by position`;
  }
}

/** The default domain's opset version (1 when it is not declared, as ONNX says). */
function defaultOpset(buf: Buffer, modelFields: Field[]): number {
  for (const f of modelFields.filter((x) => x.number === MODEL_OPSET)) {
    const o = onnx.OperatorSetIdProto.decode(buf.subarray(f.dataStart, f.end));
    if (!o.domain || o.domain === 'ai.onnx') return typeof o.version === 'number' ? o.version : o.version.toNumber();
  }
  return 1;
}

function externalLocations(tensors: Iterable<{ dataLocation: number; externalData: { key?: string | null; value?: string | null }[] }>): string[] {
  const locations = new Set<string>();
  for (const t of tensors) {
    if (t.dataLocation !== EXTERNAL) continue;
    const location = t.externalData.find((e) => e.key === 'location')?.value;
    if (location) locations.add(location);
  }
  return [...locations];
}

/** The top-level fields of the message in buf[start, end). */
function fields(buf: Buffer, start: number, end: number): Field[] {
  const reader = protobuf.Reader.create(buf);
  reader.pos = start;
  const out: Field[] = [];
  while (reader.pos < end) {
    const fieldStart = reader.pos;
    const tag = reader.uint32();
    const wireType = tag & 7;
    let dataStart = reader.pos;
    if (wireType === 2) {
      const length = reader.uint32();
      dataStart = reader.pos;
      reader.pos += length;
    } else {
      reader.skipType(wireType);
    }
    out.push({ number: tag >>> 3, start: fieldStart, end: reader.pos, dataStart });
  }
  if (reader.pos !== end) throw new RangeError('malformed protobuf: a field runs past its message');
  return out;
}

function prefix(field: number, length: number): Uint8Array {
  return protobuf.Writer.create().uint32((field << 3) | 2).uint32(length).finish();
}

function lengthDelimited(field: number, value: Uint8Array): Uint8Array[] {
  return [prefix(field, value.length), value];
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
