import { MAX_WEIGHT, REASONER_NAME } from '../../adapters/manifest.js';
import { ONNX_DTYPES, type OnnxDtype } from '../../models/onnx-variant.js';

/** POST /v1/reasoners: load a module from a directory inside --reasoners-dir, or replace one. */
export const loadReasonerBodySchema = {
  type: 'object',
  required: ['path'],
  additionalProperties: false,
  properties: {
    name: {
      type: 'string',
      pattern: REASONER_NAME.source,
      description: 'Name requests use for the module. Default: the "name" in the module\'s unir.json.',
    },
    path: {
      type: 'string',
      minLength: 1,
      maxLength: 4096,
      description: 'The module directory, relative to --reasoners-dir (or absolute, inside it). Paths that leave the root (.., symbolic links) are refused.',
    },
    default_weight: {
      type: 'number',
      minimum: -MAX_WEIGHT,
      maximum: MAX_WEIGHT,
      description: 'Fusion weight when a request names the module without one. Default: the manifest\'s default_weight.',
    },
    dtype: {
      type: 'string',
      enum: ONNX_DTYPES,
      description: 'ONNX variant to serve, by transformers.js\'s dtype name (model_q4.onnx for q4, ...). Default: the manifest\'s "dtype", else the directory\'s one model.onnx.',
    },
    onnx_file: {
      type: 'string',
      minLength: 1,
      maxLength: 4096,
      description: 'Or the ONNX file, relative to the module directory (it may not leave it). Default: the manifest\'s "onnx_file".',
    },
    replace: {
      type: 'boolean',
      default: false,
      description: 'Replace a loaded module of the same name: new requests get the new version, requests in flight finish on the old one. Without it, an existing name is a 409.',
    },
  },
} as const;

export interface LoadReasonerBody {
  name?: string;
  path: string;
  default_weight?: number;
  dtype?: OnnxDtype;
  onnx_file?: string;
  replace?: boolean;
}

export const reasonerNameParamsSchema = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;
