"""A small Llama/Qwen2-style decoder and its ONNX export in the Optimum / onnx-community layout.

Shared by the fixture script (random weights) and the demo training script (trained weights), so that
every model unir-serve is tested on has the signature of a real Hugging Face export:

  inputs : input_ids [B,S] int64, attention_mask [B,P+S] int64, position_ids [B,S] int64 (optional),
           past_key_values.{i}.key|value [B,kvHeads,P,headDim] (float32 or float16),
           num_logits_to_keep (int64 scalar, optional)
  outputs: logits [B,S',V], present.{i}.key|value [B,kvHeads,P+S,headDim]
"""
from __future__ import annotations

import inspect
import json
import math
import os
from dataclasses import asdict, dataclass, field

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class DecoderConfig:
    vocab_size: int
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    intermediate_size: int = 128
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    # Export options (not architecture): KV dtype at the ONNX boundary and optional inputs.
    kv_dtype: str = "float32"
    with_position_ids: bool = True
    with_num_logits_to_keep: bool = False
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    # The dtype weights and activations compute in. "float32" (the default) is the graph every fixture and demo
    # model has. "float16" or "bfloat16" (set the weights with to_compute_dtype) compute in half precision with
    # softmax and RMSNorm statistics in float32, as Hugging Face half models do; make_gpu_model.py traces in
    # bfloat16 (which a CPU PyTorch can run) and turns the graph into float16 (bf16_graph_to_fp16).
    compute_dtype: str = "float32"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def hf_config(self) -> dict:
        """config.json in the shape transformers writes for a Qwen2 model."""
        return {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_position_embeddings,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_norm_eps,
            "hidden_act": "silu",
            "tie_word_embeddings": False,
            "torch_dtype": "float16" if self.kv_dtype == "float16" else "float32",
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "use_cache": True,
        }


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        if x.dtype != torch.float32:
            # Half precision: the statistics in float32 (a sum of squares overflows float16), the result cast back.
            xf = x.float()
            normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
            return self.weight * normed.to(x.dtype)
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        d, h, kvh = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        self.q_proj = nn.Linear(cfg.hidden_size, h * d, bias=True)
        self.k_proj = nn.Linear(cfg.hidden_size, kvh * d, bias=True)
        self.v_proj = nn.Linear(cfg.hidden_size, kvh * d, bias=True)
        self.o_proj = nn.Linear(h * d, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, past_k, past_v):
        cfg = self.cfg
        b, s, _ = x.shape
        d, h, kvh = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        q = self.q_proj(x).view(b, s, h, d).transpose(1, 2)
        k = self.k_proj(x).view(b, s, kvh, d).transpose(1, 2)
        v = self.v_proj(x).view(b, s, kvh, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cfg.compute_dtype != "float32":
            return self._half_attention(q, k, v, mask, past_k, past_v)
        # The cache holds kv_dtype values; attention always computes in float32.
        k_all = torch.cat([past_k.float(), k], dim=2)
        v_all = torch.cat([past_v.float(), v], dim=2)
        present_k = k_all.to(past_k.dtype)
        present_v = v_all.to(past_v.dtype)
        k_used, v_used = present_k.float(), present_v.float()
        if kvh != h:
            # expand + reshape rather than repeat_interleave, whose export bakes in the traced batch size.
            t = k_used.shape[2]
            k_used = k_used[:, :, None].expand(b, kvh, h // kvh, t, d).reshape(b, h, t, d)
            v_used = v_used[:, :, None].expand(b, kvh, h // kvh, t, d).reshape(b, h, t, d)
        scores = torch.matmul(q, k_used.transpose(2, 3)) / math.sqrt(d) + mask
        out = torch.matmul(torch.softmax(scores, dim=-1), v_used)
        out = out.transpose(1, 2).reshape(b, s, h * d)
        return self.o_proj(out), present_k, present_v

    def _half_attention(self, q, k, v, mask, past_k, past_v):
        """Attention for a half-precision compute dtype: matmuls in it, the masked softmax in float32."""
        cfg = self.cfg
        b, h, s, d = q.shape
        kvh = cfg.num_key_value_heads
        ct = q.dtype
        present_k = torch.cat([past_k.to(ct), k], dim=2).to(past_k.dtype)
        present_v = torch.cat([past_v.to(ct), v], dim=2).to(past_v.dtype)
        k_used, v_used = present_k.to(ct), present_v.to(ct)
        if kvh != h:
            t = k_used.shape[2]
            k_used = k_used[:, :, None].expand(b, kvh, h // kvh, t, d).reshape(b, h, t, d)
            v_used = v_used[:, :, None].expand(b, kvh, h // kvh, t, d).reshape(b, h, t, d)
        scores = torch.matmul(q, k_used.transpose(2, 3)) / math.sqrt(d)
        # The float32 mask (-1e9) added in float32: no overflow to -inf, so no NaN even for a padding query.
        probs = torch.softmax(scores.float() + mask, dim=-1).to(ct)
        out = torch.matmul(probs, v_used).transpose(1, 2).reshape(b, s, h * d)
        return self.o_proj(out), present_k, present_v


class Block(nn.Module):
    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, past_k, past_v):
        a, pk, pv = self.self_attn(self.input_layernorm(x), cos, sin, mask, past_k, past_v)
        x = x + a
        y = self.post_attention_layernorm(x)
        x = x + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))
        return x, pk, pv


class Decoder(nn.Module):
    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2).float() / cfg.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, input_ids, attention_mask, position_ids, past, num_logits_to_keep=None):
        """past: list of (key, value) per layer, [B, kvHeads, P, headDim]. Returns logits, presents."""
        b, s = input_ids.shape
        p = past[0][0].shape[2]
        if position_ids is None:
            # Exports without position_ids derive them from the mask, as HF does for left-padded batches.
            position_ids = (torch.cumsum(attention_mask, dim=-1) - 1).clamp(min=0)[:, -s:]
        freqs = position_ids.float()[:, :, None] * self.inv_freq[None, None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        if self.cfg.compute_dtype != "float32":
            # Rotary angles in float32 (positions times inverse frequencies), applied in the compute dtype.
            dt = self.embed_tokens.weight.dtype
            cos, sin = cos.to(dt), sin.to(dt)
        # Additive mask: key j is visible to query i when j <= p + i and the key is not padding.
        key_pos = torch.arange(p + s)[None, :]
        query_pos = (torch.arange(s) + p)[:, None]
        causal = key_pos <= query_pos
        visible = causal[None, None] & (attention_mask[:, None, None, :] > 0)
        # -1e9 rather than -inf: a padding query with no visible key still gets finite (unused) values,
        # so no NaN reaches the cache, and exp(-1e9) is exactly 0 for every real query.
        mask = torch.where(visible, torch.zeros(()), torch.full((), -1e9))
        x = self.embed_tokens(input_ids)
        presents = []
        for layer, (pk, pv) in zip(self.layers, past):
            x, nk, nv = layer(x, cos, sin, mask, pk, pv)
            presents.append((nk, nv))
        x = self.norm(x)
        if num_logits_to_keep is not None:
            x = x.index_select(1, torch.arange(s - num_logits_to_keep, s))
        return self.lm_head(x), presents

    def empty_past(self, batch: int):
        cfg = self.cfg
        dtype = torch.float16 if cfg.kv_dtype == "float16" else torch.float32
        shape = (batch, cfg.num_key_value_heads, 0, cfg.head_dim)
        return [(torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype)) for _ in range(cfg.num_hidden_layers)]


class _ExportWrapper(nn.Module):
    """Flattens the decoder's inputs and outputs into the names of an Optimum export."""

    def __init__(self, model: Decoder):
        super().__init__()
        self.model = model
        cfg = model.cfg
        self.has_pos = cfg.with_position_ids
        self.has_keep = cfg.with_num_logits_to_keep

    def forward(self, *args):
        it = iter(args)
        input_ids = next(it)
        attention_mask = next(it)
        position_ids = next(it) if self.has_pos else None
        past = [(next(it), next(it)) for _ in range(self.model.cfg.num_hidden_layers)]
        keep = next(it) if self.has_keep else None
        logits, presents = self.model(input_ids, attention_mask, position_ids, past, keep)
        flat = [logits]
        for k, v in presents:
            flat += [k, v]
        return tuple(flat)


def export_onnx(model: Decoder, path: str) -> None:
    cfg = model.cfg
    model.eval()
    wrapper = _ExportWrapper(model)
    b, s, p = 2, 3, 4
    dtype = torch.float16 if cfg.kv_dtype == "float16" else torch.float32
    names_in, args, axes = ["input_ids", "attention_mask"], [torch.ones(b, s, dtype=torch.long), torch.ones(b, p + s, dtype=torch.long)], {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
    }
    if cfg.with_position_ids:
        names_in.append("position_ids")
        args.append(torch.arange(p, p + s).repeat(b, 1))
        axes["position_ids"] = {0: "batch_size", 1: "sequence_length"}
    for i in range(cfg.num_hidden_layers):
        for kind in ("key", "value"):
            name = f"past_key_values.{i}.{kind}"
            names_in.append(name)
            args.append(torch.randn(b, cfg.num_key_value_heads, p, cfg.head_dim).to(dtype))
            axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    if cfg.with_num_logits_to_keep:
        names_in.append("num_logits_to_keep")
        args.append(torch.tensor(1, dtype=torch.long))
    names_out = ["logits"]
    axes["logits"] = {0: "batch_size", 1: "sequence_length"}
    for i in range(cfg.num_hidden_layers):
        for kind in ("key", "value"):
            name = f"present.{i}.{kind}"
            names_out.append(name)
            axes[name] = {0: "batch_size", 2: "total_sequence_length"}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # PyTorch >= 2.9 defaults to the dynamo exporter, which reads dynamic_axes differently: keep the TorchScript one.
    extra = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad():
        torch.onnx.export(wrapper, tuple(args), path, input_names=names_in, output_names=names_out,
                          dynamic_axes=axes, opset_version=17, do_constant_folding=True, **extra)


def write_model_dir(model: Decoder, out_dir: str, tokenizer_json: dict, tokenizer_config: dict,
                    generation_config: dict | None = None, onnx_subdir: bool = False,
                    manifest: dict | None = None, external_data: bool = False, transform=None) -> None:
    """Writes a model directory in the Hugging Face / Optimum layout (plus unir.json for modules).
    `transform(onnx_path)`, when given, rewrites the exported graph in place before anything else is written."""
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, "onnx", "model.onnx") if onnx_subdir else os.path.join(out_dir, "model.onnx")
    export_onnx(model, onnx_path)
    if transform is not None:
        transform(onnx_path)
    if external_data:
        # Weights in model.onnx_data beside the graph, as exports over 2 GB must be.
        proto = onnx.load(onnx_path)
        # onnx appends to an existing data file: start from none, or a re-run doubles it.
        data_path = onnx_path + "_data"
        if os.path.exists(data_path):
            os.remove(data_path)
        onnx.save_model(proto, onnx_path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(onnx_path) + "_data", size_threshold=0)
    dump_json(os.path.join(out_dir, "config.json"), model.cfg.hf_config())
    dump_json(os.path.join(out_dir, "tokenizer.json"), tokenizer_json)
    dump_json(os.path.join(out_dir, "tokenizer_config.json"), tokenizer_config)
    if generation_config is not None:
        dump_json(os.path.join(out_dir, "generation_config.json"), generation_config)
    if manifest is not None:
        dump_json(os.path.join(out_dir, "unir.json"), manifest)


def dump_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


@torch.no_grad()
def fused_greedy(models_weights, prompt_ids: list[int], steps: int):
    """Greedy decoding on z = sum_i w_i * z_i (first entry is the base with weight 1), each model with its own
    KV cache. Vocabularies may differ by padding: fusion covers the base's vocabulary; a module's rows beyond
    it are dropped and base ids beyond the module's vocabulary take the base's logits alone.
    Returns (tokens, fused logits per step as lists)."""
    base = models_weights[0][0]
    vocab = base.cfg.vocab_size
    states = [(m, w, m.empty_past(1)) for m, w in models_weights]
    tokens, logits_per_step = [], []
    ids = torch.tensor([prompt_ids])
    total = len(prompt_ids)
    for _ in range(steps):
        fused = torch.zeros(vocab)
        new_states = []
        for m, w, past in states:
            mask = torch.ones(1, total, dtype=torch.long)
            pos = torch.arange(total - ids.shape[1], total)[None]
            logits, past = m(ids, mask, pos if m.cfg.with_position_ids else None, past)
            row = logits[0, -1]
            shared = min(vocab, row.shape[0])
            fused[:shared] += w * row[:shared]
            new_states.append((m, w, past))
        states = new_states
        nxt = int(torch.argmax(fused))
        tokens.append(nxt)
        logits_per_step.append(fused.tolist())
        ids = torch.tensor([[nxt]])
        total += 1
    return tokens, logits_per_step


def config_dict(cfg: DecoderConfig) -> dict:
    return asdict(cfg)


def to_compute_dtype(model: Decoder) -> Decoder:
    """Casts the weights (not the rotary buffer, which stays float32) to the config's compute dtype."""
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[model.cfg.compute_dtype]
    with torch.no_grad():
        for p in model.parameters():
            p.data = p.data.to(dtype)
    return model


def bf16_graph_to_fp16(path: str) -> None:
    """Rewrites an ONNX graph traced in bfloat16 as the same graph in float16, in place.

    Every bfloat16 there comes from the compute dtype (the KV cache, the mask and the softmax are float16 or
    float32 by construction), so swapping the element type is the whole conversion: initializers and constants
    get their values converted (bf16 -> f32 -> f16), Casts to bfloat16 cast to float16, and declared types follow.
    """
    import numpy as np
    from onnx import TensorProto, numpy_helper

    bf16, fp16 = TensorProto.BFLOAT16, TensorProto.FLOAT16

    def convert_tensor(t) -> None:
        if t.data_type != bf16:
            return
        if t.raw_data:
            bits = np.frombuffer(t.raw_data, dtype=np.uint16)
        else:
            bits = np.array(t.int32_data, dtype=np.uint32).astype(np.uint16)
        values = (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float16)
        dims = list(t.dims)
        t.CopyFrom(numpy_helper.from_array(values.reshape(dims), t.name))

    def convert_type(tp) -> None:
        if tp.HasField("tensor_type") and tp.tensor_type.elem_type == bf16:
            tp.tensor_type.elem_type = fp16

    proto = onnx.load(path)
    graph = proto.graph
    for t in graph.initializer:
        convert_tensor(t)
    for node in graph.node:
        for attr in node.attribute:
            if attr.name == "to" and attr.i == bf16:
                attr.i = fp16
            if attr.type == onnx.AttributeProto.TENSOR:
                convert_tensor(attr.t)
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        convert_type(vi.type)
    left = [n.name for n in graph.initializer if n.data_type == bf16]
    left += [n.op_type for n in graph.node for a in n.attribute if (a.name == "to" and a.i == bf16)]
    if left:
        raise SystemExit(f"bfloat16 left in {path}: {left[:5]}")
    onnx.checker.check_model(proto)
    onnx.save(proto, path)
