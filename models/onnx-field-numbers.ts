/**
 * Field numbers of onnx.proto3 (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto3), for the readers that walk
 * an ONNX file's protobuf without loading its weights (models/onnx-file-info.ts, models/logits-to-keep-rewrite.ts).
 */
export const MODEL_GRAPH = 7;
export const MODEL_OPSET = 8;
export const MODEL_METADATA = 14;
export const GRAPH_NODE = 1;
export const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
export const GRAPH_OUTPUT = 12;
export const GRAPH_VALUE_INFO = 13;
export const NODE_OP_TYPE = 4;
export const NODE_DOMAIN = 7;
export const TENSOR_EXTERNAL_DATA = 13;
/** TensorProto.DataLocation.EXTERNAL. */
export const EXTERNAL = 1;
/** StringStringEntryProto's key and value. */
export const ENTRY_KEY = 1;
export const ENTRY_VALUE = 2;
