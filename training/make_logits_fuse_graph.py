"""Builds the graph that fuses logits on the device: models/graphs/logits_fuse_{f32,f16}.onnx.

  /usr/bin/python3 training/make_logits_fuse_graph.py      (deterministic)

One step of z = z_base + sum_i w_i * z_i, run once per model on the provider that holds the models' logits:
  inputs : logits  [R, S, Vm] (T)   one model's run output; the last position of each row is used
           acc     float32, broadcastable to [n, V]: the sum so far ([1, 1] zeros for the base's run)
           rows    [n] int64        for each fused row, its row in `logits` (any valid row when `keep` is false)
           weights [n, 1] float32   the model's weight for each fused row (1 for the base)
           keep    [n, 1] bool      whether the row takes this model at all (a row without the module, or weight 0)
           shared  [1] int64        min(V, Vm): the ids both vocabularies cover
           pads    [4] int64        [0, 0, 0, V - shared]: ids past the module's rows take nothing from it
  output : out     [n, V] float32   acc + where(keep, weights * logits[rows, -1, :V] padded with zeros, 0)
The runtime keeps every output but the last on the device and fetches the last one (the fused rows) to the host,
so one row per sequence comes down instead of one per model. Float32 arithmetic in the same order as the host's
kernels/fuse-logits.ts (base first, then modules sorted by version): the same sums up to float rounding.
"""
from __future__ import annotations

import os

import onnx
from onnx import TensorProto as T
from onnx import helper as h

from make_kv_gather_graph import DTYPES, OUT, finish, i64


def fuse_graph(elem: int) -> onnx.ModelProto:
    nodes = [
        i64("minus_one", [-1]),
        i64("zero", [0]),
        i64("axis1", [1]),
        i64("huge", [2**62]),
        h.make_node("Constant", [], ["fzero"], value=h.make_tensor("fzero", T.FLOAT, [], [0.0])),
        # The last position of every row: [R, S, Vm] -> [R, Vm].
        h.make_node("Slice", ["logits", "minus_one", "huge", "axis1"], ["last_3d"]),
        h.make_node("Squeeze", ["last_3d", "axis1"], ["last"]),
        h.make_node("Cast", ["last"], ["last_f32"], to=T.FLOAT),
        # The shared ids, then zeros up to the base's vocabulary.
        h.make_node("Slice", ["last_f32", "zero", "shared", "axis1"], ["cut"]),
        h.make_node("Pad", ["cut", "pads"], ["padded"], mode="constant"),
        h.make_node("Gather", ["padded", "rows"], ["picked"], axis=0),
        h.make_node("Mul", ["picked", "weights"], ["scaled"]),
        h.make_node("Where", ["keep", "scaled", "fzero"], ["term"]),
        h.make_node("Add", ["acc", "term"], ["out"]),
    ]
    graph = h.make_graph(
        nodes,
        "logits_fuse",
        [
            h.make_tensor_value_info("logits", elem, ["src_rows", "positions", "src_vocab"]),
            h.make_tensor_value_info("acc", T.FLOAT, ["acc_rows", "acc_vocab"]),
            h.make_tensor_value_info("rows", T.INT64, ["n"]),
            h.make_tensor_value_info("weights", T.FLOAT, ["n", 1]),
            h.make_tensor_value_info("keep", T.BOOL, ["n", 1]),
            h.make_tensor_value_info("shared", T.INT64, [1]),
            h.make_tensor_value_info("pads", T.INT64, [4]),
        ],
        [h.make_tensor_value_info("out", T.FLOAT, ["n", "vocab"])],
    )
    return finish(graph)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for suffix, elem in DTYPES.items():
        path = os.path.join(OUT, f"logits_fuse_{suffix}.onnx")
        onnx.save(fuse_graph(elem), path)
        print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
