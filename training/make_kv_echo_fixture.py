"""Builds tests/fixtures/kv-echo: the smallest graph with a decoder's signature, for the disposal suites.

  /usr/bin/python3 training/make_kv_echo_fixture.py      (deterministic; tokenizer files copied from tiny-mha-f32)

A decoder export as the runtime sees it (input_ids, attention_mask, position_ids, one layer of
past_key_values.0.key|value [B, 2, P, 8] float32 -> logits [B, S, 307], present.0.key|value [B, 2, P+S, 8]) whose
present is the past with the new tokens' rows appended (Concat on the sequence axis) and whose logits are a
token embedding plus a term read from the whole cache. It has a handful of kernels instead of a transformer's
hundreds, so 10,000 decode steps with sequences joining and leaving (re-layouts on the device) take seconds
even on a software GPU; the tensors the runner owns are what a real model's are.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
OUT = os.path.join(ROOT, "kv-echo")
VOCAB, HEADS, HEAD_DIM = 307, 2, 8


def graph() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    emb = numpy_helper.from_array(rng.standard_normal((VOCAB, HEADS * HEAD_DIM)).astype(np.float32), "kv_table")
    out = numpy_helper.from_array(rng.standard_normal((VOCAB, VOCAB)).astype(np.float32) * 0.1, "token_logits")
    proj = numpy_helper.from_array(rng.standard_normal((HEAD_DIM, VOCAB)).astype(np.float32) * 0.1, "cache_logits")
    shape = numpy_helper.from_array(np.array([0, 0, HEADS, HEAD_DIM], dtype=np.int64), "kv_shape")
    nodes = [
        # The new rows of the cache: an embedding of each token, [B, S, H, D] -> [B, H, S, D].
        h.make_node("Gather", ["kv_table", "input_ids"], ["kv_flat"], axis=0),
        h.make_node("Reshape", ["kv_flat", "kv_shape"], ["kv_bshd"]),
        h.make_node("Transpose", ["kv_bshd"], ["kv_new"], perm=[0, 2, 1, 3]),
        h.make_node("Concat", ["past_key_values.0.key", "kv_new"], ["present.0.key"], axis=2),
        h.make_node("Concat", ["past_key_values.0.value", "kv_new"], ["present.0.value"], axis=2),
        # Logits read the whole cache (so a wrong re-layout would show) plus the token's own row.
        h.make_node("ReduceSum", ["present.0.key"], ["cache_sum"], axes=[1, 2], keepdims=0),
        h.make_node("Unsqueeze", ["cache_sum"], ["cache_sum_3d"], axes=[1]),
        h.make_node("MatMul", ["cache_sum_3d", "cache_logits"], ["from_cache"]),
        h.make_node("Gather", ["token_logits", "input_ids"], ["from_token"], axis=0),
        h.make_node("Add", ["from_token", "from_cache"], ["logits"]),
    ]
    kv = lambda name, width: h.make_tensor_value_info(name, T.FLOAT, ["batch", HEADS, width, HEAD_DIM])  # noqa: E731
    g = h.make_graph(
        nodes,
        "kv_echo",
        [
            h.make_tensor_value_info("input_ids", T.INT64, ["batch", "seq"]),
            h.make_tensor_value_info("attention_mask", T.INT64, ["batch", "total"]),
            h.make_tensor_value_info("position_ids", T.INT64, ["batch", "seq"]),
            kv("past_key_values.0.key", "past"),
            kv("past_key_values.0.value", "past"),
        ],
        [
            h.make_tensor_value_info("logits", T.FLOAT, ["batch", "seq", VOCAB]),
            kv("present.0.key", "total"),
            kv("present.0.value", "total"),
        ],
        initializer=[emb, out, proj, shape],
    )
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 11)], producer_name="unir-serve")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    onnx.save(graph(), os.path.join(OUT, "model.onnx"))
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": VOCAB, "hidden_size": HEADS * HEAD_DIM,
        "num_hidden_layers": 1, "num_attention_heads": HEADS, "num_key_value_heads": HEADS, "head_dim": HEAD_DIM,
        "max_position_embeddings": 512, "bos_token_id": 304, "eos_token_id": 304, "torch_dtype": "float32", "use_cache": True,
    }
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(ROOT, "tiny-mha-f32", name), os.path.join(OUT, name))
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
