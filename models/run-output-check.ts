import type { InferenceSession } from 'onnxruntime-node';
import { UnirError } from '../common/errors.js';
import type { DecoderSignature } from './decoder-signature.js';

/**
 * Checks the shapes a run returned against what the runner will do with them: logits [rows, positions, vocab]
 * (float32 or float16, at least one position) and every present key and value [rows, kv_heads, past + new,
 * head_dim]. An export whose cache is laid out otherwise (heads and positions swapped, another head count behind
 * symbolic dimensions) would be re-laid out and fed back wrongly; logits of another type (int64, bool, string)
 * would be read as numbers by JavaScript's coercions, or not at all, and give wrong tokens without an error. On a mismatch the outputs are disposed and model_failed says which tensor is wrong.
 */
export function checkRunOutputs(out: InferenceSession.ReturnType, sig: DecoderSignature, rows: number, total: number): void {
  const problem = outputProblem(out, sig, rows, total);
  if (problem === null) return;
  for (const t of Object.values(out)) t.dispose();
  throw new UnirError('model_failed', `the model's outputs do not have the layout unir-serve feeds back: ${problem}`);
}

function outputProblem(out: InferenceSession.ReturnType, sig: DecoderSignature, rows: number, total: number): string | null {
  const logits = out.logits;
  if (!logits) return 'no logits output';
  if (logits.type !== 'float32' && logits.type !== 'float16') return `logits are ${logits.type}, expected float32 or float16`;
  const [r, positions, v] = logits.dims;
  if (logits.dims.length !== 3 || r !== rows || positions < 1 || v !== sig.vocabSize) {
    return `logits have shape [${logits.dims.join(', ')}], expected [${rows}, positions, ${sig.vocabSize}]`;
  }
  const expected = [rows, sig.numKvHeads, total, sig.headDim];
  for (const name of [...sig.presentKeyNames, ...sig.presentValueNames]) {
    const dims = out[name]?.dims ?? [];
    if (dims.length !== 4 || dims.some((d, i) => d !== expected[i])) {
      return `${name} has shape [${dims.join(', ')}], expected [${expected.join(', ')}] (batch, kv_heads, past + new positions, head_dim)`;
    }
  }
  return null;
}
