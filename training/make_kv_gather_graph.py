"""Builds the small ONNX graphs the runtime uses to move KV caches without leaving the device.

  /usr/bin/python3 training/make_kv_gather_graph.py      (writes models/graphs/*.onnx; deterministic)

kv_gather_{f32,f16}.onnx: one step of laying out a KV cache again when a batch's rows change
  inputs : kv      [R, H, W, D]  a layer's key or value tensor of one source layout (T)
           acc     rank 4, broadcastable to [n, H, width, D]: the rows gathered so far (T); [1,1,1,1] zeros first
           rows    [n] int64     for each target row, its row in `kv` (any valid row when not taken from `kv`)
           lengths [n] int64     for each target row, its cached length in `kv`; 0 when not taken from `kv`
           width   [1] int64     the target width
  output : out     [n, H, width, D]: row r holds the last lengths[r] columns of kv[rows[r]] right-aligned,
                   and acc's values everywhere else
  The runtime calls it once per source layout, feeding each output back as the next `acc`, so rows from
  several layouts meet in one tensor. It is exact (Gather and Where copy values), so a run on the CPU gives
  the typed-array copy's bytes, and a run on WebGPU keeps the tensors on the device.

kv_gather_left_{f32,f16}.onnx: the same for left-aligned caches (GroupQueryAttention exports keep each row's
  positions in its first columns): row r holds the first lengths[r] columns of kv[rows[r]], left-aligned.

kv_copy_{f32,f16}.onnx: Identity, for the benchmark's measure of device<->host copies (input on the host,
  output fetched to the host: one upload and one download of the tensor).
"""
from __future__ import annotations

import os

import onnx
from onnx import TensorProto as T
from onnx import helper as h

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "graphs")
OPSET = 17
DTYPES = {"f32": T.FLOAT, "f16": T.FLOAT16}


def i64(name: str, values: list[int]) -> onnx.NodeProto:
    return h.make_node("Constant", [], [name], value=h.make_tensor(name, T.INT64, [len(values)], values))


def i64_scalar(name: str, value: int) -> onnx.NodeProto:
    return h.make_node("Constant", [], [name], value=h.make_tensor(name, T.INT64, [], [value]))


def source_and_target_widths() -> list[onnx.NodeProto]:
    """Constants, the source width `src_width` (from kv's shape) and the target width `width_s` (a scalar)."""
    return [
        i64("axis2", [2]),
        i64("axis3", [3]),
        i64("axes13", [1, 3]),
        i64("axes1", [1]),
        i64_scalar("zero", 0),
        i64_scalar("one", 1),
        h.make_node("Shape", ["kv"], ["kv_shape"]),
        h.make_node("Slice", ["kv_shape", "axis2", "axis3"], ["src_width_1"]),
        h.make_node("Squeeze", ["src_width_1"], ["src_width"]),
        h.make_node("Squeeze", ["width"], ["width_s"]),
    ]


def gather_and_keep(keep_nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """Rows `rows` of kv at source columns `cols`, then `keep_2d` (from keep_nodes) chooses them over acc."""
    return [
        h.make_node("Gather", ["kv", "rows"], ["picked"], axis=0),
        h.make_node("Gather", ["picked", "cols"], ["aligned"], axis=2),
        *keep_nodes,
        h.make_node("Unsqueeze", ["keep_2d", "axes13"], ["keep"]),
        h.make_node("Where", ["keep", "aligned", "acc"], ["out"]),
    ]


def gather_graph(elem: int) -> onnx.ModelProto:
    nodes = [
        *source_and_target_widths(),
        # The target's column c -> source column W - width + c (clamped: those are masked).
        h.make_node("Sub", ["src_width", "width_s"], ["first_col"]),
        h.make_node("Range", ["first_col", "src_width", "one"], ["cols_raw"]),
        h.make_node("Max", ["cols_raw", "zero"], ["cols"]),
        *gather_and_keep([
            # Keep column c of row r when c >= width - lengths[r]: the row's real positions, right-aligned.
            h.make_node("Range", ["zero", "width_s", "one"], ["target_cols"]),
            h.make_node("Sub", ["width", "lengths"], ["first_real"]),
            h.make_node("Unsqueeze", ["first_real", "axes1"], ["first_real_2d"]),
            h.make_node("GreaterOrEqual", ["target_cols", "first_real_2d"], ["keep_2d"]),
        ]),
    ]
    return finish(h.make_graph(nodes, "kv_gather", *gather_io(elem)))


def gather_left_graph(elem: int) -> onnx.ModelProto:
    nodes = [
        *source_and_target_widths(),
        # The target's column c is the source's column c (clamped to the source width: those are masked).
        h.make_node("Range", ["zero", "width_s", "one"], ["target_cols"]),
        h.make_node("Sub", ["src_width", "one"], ["last_col"]),
        h.make_node("Min", ["target_cols", "last_col"], ["cols"]),
        *gather_and_keep([
            # Keep column c of row r when c < lengths[r]: the row's real positions, left-aligned.
            h.make_node("Unsqueeze", ["lengths", "axes1"], ["lengths_2d"]),
            h.make_node("Less", ["target_cols", "lengths_2d"], ["keep_2d"]),
        ]),
    ]
    return finish(h.make_graph(nodes, "kv_gather_left", *gather_io(elem)))


def gather_io(elem: int):
    inputs = [
        h.make_tensor_value_info("kv", elem, ["src_rows", "heads", "src_width", "head_dim"]),
        h.make_tensor_value_info("acc", elem, ["acc_rows", "acc_heads", "acc_width", "acc_dim"]),
        h.make_tensor_value_info("rows", T.INT64, ["rows"]),
        h.make_tensor_value_info("lengths", T.INT64, ["rows"]),
        h.make_tensor_value_info("width", T.INT64, [1]),
    ]
    return inputs, [h.make_tensor_value_info("out", elem, ["rows", "heads", "width", "head_dim"])]


def copy_graph(elem: int) -> onnx.ModelProto:
    graph = h.make_graph(
        [h.make_node("Identity", ["x"], ["y"])],
        "kv_copy",
        [h.make_tensor_value_info("x", elem, ["n"])],
        [h.make_tensor_value_info("y", elem, ["n"])],
    )
    return finish(graph)


def finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="unir-serve")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for suffix, elem in DTYPES.items():
        for name, build in (("kv_gather", gather_graph), ("kv_gather_left", gather_left_graph), ("kv_copy", copy_graph)):
            path = os.path.join(OUT, f"{name}_{suffix}.onnx")
            onnx.save(build(elem), path)
            print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
