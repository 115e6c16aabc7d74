/**
 * Checks `npm run eval`'s accuracies, measured over HTTP on the real server (ONNX Runtime), against the figures the
 * training scripts measured in PyTorch on the same held-out sets (demo-models/eval/python-eval*.json: float32,
 * greedy, 96 new tokens, the same correctness rule). Both decode greedily in float32, so each accuracy should be
 * the same count of correct problems; a difference means the export, the engine or the fusion departs from PyTorch
 * (or a near tie in the logits fell the other way).
 */
import { existsSync, readFileSync } from 'node:fs';
import { SETS, type SetName } from './demo-eval-client.js';

/** One row of the eval: a label and its accuracy per set, in %. */
export interface AccuracyRow {
  label: string;
  scores: Record<string, number>;
}

/** python-eval*.json as the training scripts write it: accuracy as a fraction (4 decimals) per model and set. */
interface PythonEval {
  accuracy: Record<string, Record<SetName, number>>;
}

/**
 * One line per compared row: "<label>: HTTP add 100.0% / PyTorch 100.0%, ... : matches PyTorch" (or "DIFFERS").
 * `pytorchNames` maps an eval row's label to its key in the JSON's `accuracy`; rows not in it, or whose key the JSON
 * lacks (a weight the training script did not run), are not compared (the latter saying so).
 * Returns the lines and whether every compared set matched (to 0.01 points: the JSON keeps 4 decimals of a
 * fraction). Figures over fewer problems than PyTorch used (`--limit`) cannot be compared: then one line says so.
 */
export function comparePyTorch(
  rows: readonly AccuracyRow[],
  jsonPath: string,
  pytorchNames: Record<string, string>,
  problemsPerSet: number,
  pytorchProblemsPerSet = 200,
): { lines: string[]; matches: boolean } {
  if (!existsSync(jsonPath)) return { lines: [`PyTorch figures not compared: ${jsonPath} is missing`], matches: false };
  if (problemsPerSet !== pytorchProblemsPerSet) {
    return { lines: [`PyTorch figures not compared: they are over ${pytorchProblemsPerSet} problems per set, this run over ${problemsPerSet}`], matches: false };
  }
  const py = (JSON.parse(readFileSync(jsonPath, 'utf8')) as PythonEval).accuracy;
  const lines: string[] = [];
  let matches = true;
  for (const row of rows) {
    const key = pytorchNames[row.label];
    if (key === undefined) continue;
    if (!py[key]) {
      lines.push(`${row.label}: not compared (${jsonPath} has no "${key}")`);
      continue;
    }
    const same = SETS.every((s) => Math.abs(row.scores[s] - 100 * py[key][s]) < 0.01);
    matches &&= same;
    const figures = SETS.map((s) => `${s} ${row.scores[s].toFixed(1)}% / ${(100 * py[key][s]).toFixed(1)}%`).join(', ');
    lines.push(`${row.label}: HTTP / PyTorch ${figures}: ${same ? 'matches PyTorch' : 'DIFFERS from PyTorch'}`);
  }
  return { lines, matches };
}
