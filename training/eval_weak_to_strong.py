"""PyTorch reference figures for the weak-to-strong table: base-L with the modules trained against the small base.

  nice -n 10 /usr/bin/python3 training/eval_weak_to_strong.py        (no training; 8.6 min on 2 shared cores)

train_base_large.py keeps no PyTorch checkpoint, so the committed ONNX files are read back into the PyTorch decoder
(demo-models/base-large and demo-models/reasoners/{add,sort}; every parameter is taken from the graph, a MatMul's
weight transposed back) and decoded greedily in float32 on the held-out sets, with fused logits
z = z_base-L + sum w_i z_i, by train_demo.greedy_batch (the decoder that made python-eval.json). The rows carry the
labels of `npm run eval -- --tables weak-to-strong`, which compares its figures over HTTP with these.

Writes demo-models/eval/python-eval-weak-to-strong.json (accuracies, and the exact completions of the first mixed
problems and of the first addition that both modules at weight 1 get wrong, for base-L alone and with both modules
at weights 1 and 2). Environment: WEIGHTS (default 0.5,1.5,2,3: both modules'
weight in the sweep rows, as npm run eval's --weights).
"""
from __future__ import annotations

import os
import time

import onnx
import torch
from onnx import numpy_helper

import demo_tasks as T
import train_demo as D
from train_base_large import base_large_config
from unir_model import Decoder, DecoderConfig, dump_json

SAMPLES = 4  # problems of the mixed set whose completions are kept


def decoder_from_onnx(model_dir: str, cfg: DecoderConfig) -> Decoder:
    """The Decoder whose export is model_dir/model.onnx: named initializers map to their parameter (the export's
    `model.` prefix dropped); a MatMul's unnamed weight maps by its node's scope (/model/layers.0/up_proj/MatMul
    -> layers.0.up_proj.weight), transposed (nn.Linear keeps [out, in]). Raises if a parameter is not found or
    a shape differs."""
    graph = onnx.load(os.path.join(model_dir, "model.onnx")).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    found: dict[str, torch.Tensor] = {}
    for name, a in arrays.items():
        if name.startswith("model."):
            found[name[len("model."):]] = torch.from_numpy(a.copy())
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in arrays and node.name.endswith("/MatMul"):
            scope = node.name[: -len("/MatMul")].strip("/").split("/")
            key = ".".join(s for s in scope if s != "model") + ".weight"
            found[key] = torch.from_numpy(arrays[node.input[1]].T.copy())
    model = Decoder(cfg)
    state = model.state_dict()
    missing = sorted(set(state) - set(found))
    if missing:
        raise ValueError(f"{model_dir}: no initializer for {missing}")
    for k, v in state.items():
        if tuple(found[k].shape) != tuple(v.shape):
            raise ValueError(f"{model_dir}: {k} has shape {tuple(found[k].shape)} in the graph, {tuple(v.shape)} here")
    model.load_state_dict({k: found[k] for k in state})
    return model.eval().requires_grad_(False)


def main() -> None:
    torch.set_num_threads(2)
    t0 = time.time()
    weights = [float(w) for w in os.environ.get("WEIGHTS", "0.5,1.5,2,3").split(",") if w]
    sets, easy, _ = D.make_eval_sets(D.EVAL_N)
    large = decoder_from_onnx(os.path.join(D.OUT, "base-large"), base_large_config())
    add = decoder_from_onnx(os.path.join(D.OUT, "reasoners", "add"), D.module_config())
    sort = decoder_from_onnx(os.path.join(D.OUT, "reasoners", "sort"), D.module_config())
    combos = {
        "base-L alone": [(large, 1.0)],
        "base-L + add": [(large, 1.0), (add, 1.0)],
        "base-L + sort": [(large, 1.0), (sort, 1.0)],
        "base-L + add + sort": [(large, 1.0), (add, 1.0), (sort, 1.0)],
    }
    for w in weights:
        combos[f"base-L + add + sort, weights {w:g}"] = [(large, 1.0), (add, w), (sort, w)]
    table = {}
    decoded = {}  # label -> set -> [(completion ids, ended with EOS)] in problem order
    with D.fp32_conv_linear():
        easy_acc = D.accuracy([(large, 1.0)], easy)
        D.log(f"base-L (read back from ONNX) on easy (training-level) problems: {easy_acc * 100:.1f}%")
        for label, mw in combos.items():
            decoded[label] = {k: D.greedy_batch(mw, [D.encode(p["prompt"]) for p in v]) for k, v in sets.items()}
            table[label] = {k: round(sum(T.is_correct(p["prompt"], D.decode(toks), ended, p["answer"])
                                         for p, (toks, ended) in zip(sets[k], decoded[label][k])) / len(sets[k]), 4)
                            for k in sets}
            D.log(f"{label:34s} " + "  ".join(f"{k} {v * 100:5.1f}%" for k, v in table[label].items()))
    # Exact greedy completions, for tests/e2e/weak-to-strong.test.ts to compare token for token: the first mixed
    # problems, and the first addition that base + both modules at weight 1 gets wrong (where the weight matters).
    picks = [("mixed", i) for i in range(SAMPLES)]
    wrong_at_1 = [i for i, (toks, ended) in enumerate(decoded["base-L + add + sort"]["add"])
                  if not T.is_correct(sets["add"][i]["prompt"], D.decode(toks), ended, sets["add"][i]["answer"])]
    picks += [("add", i) for i in wrong_at_1[:1]]
    samples = {
        label: [{"prompt": sets[k][i]["prompt"], "completion": D.decode(decoded[label][k][i][0]),
                 "eos": decoded[label][k][i][1]} for k, i in picks]
        for label in ["base-L alone", "base-L + add + sort", "base-L + add + sort, weights 2"] if label in decoded
    }
    dump_json(os.path.join(D.OUT, "eval", "python-eval-weak-to-strong.json"), {
        "command": "nice -n 10 /usr/bin/python3 training/eval_weak_to_strong.py",
        "models": "demo-models/base-large with demo-models/reasoners/{add,sort} (trained against demo-models/base), "
                  "read back from their ONNX files",
        "decoding": "greedy, float32, fused logits z_base-L + sum w_i z_i, at most 96 new tokens, stop at EOS",
        "rule": "correct iff EOS generated and (prompt + completion) after its last '=', stripped, equals answer",
        "accuracy": table,
        "samples": samples,
        "base_on_easy_training_level": round(easy_acc, 4),
        "seconds": round(time.time() - t0, 1),
    })
    D.log(f"done in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
