"""Builds quantized, fused-operator fixtures in the ORT-GenAI model-builder layout, and their float references.

  /usr/bin/python3 training/make_quantized_fixtures.py      (seeded; a few seconds on a CPU)

Real int4 exports (onnxruntime-genai's model builder, onnx-community's *_q4 files) are not the plain-operator
graphs torch.onnx.export writes: every linear layer is a com.microsoft MatMulNBits (4-bit weights in blocks along
K, one scale per block, an optional 4-bit zero point per block) and attention is one com.microsoft
GroupQueryAttention node that also applies the rotary embedding (do_rotary=1, cos/sin caches as initializers),
computes positions from the attention mask (seqlens_k = sum(mask) - 1, total_sequence_length = mask width) and
keeps the KV cache left-aligned (each row's past at the start of the buffer). Norms are SimplifiedLayerNormalization
and com.microsoft SkipSimplifiedLayerNormalization (residual add fused in). This script writes such graphs with
onnx's helper API, node by node, in the shape the builder emits them:

  tiny-q4-genai/        base: 2 layers, 4 query / 2 KV heads, symmetric int4 (no zero points), accuracy_level 4,
                        genai_config.json + model.onnx + model.onnx.data + tokenizer files, no config.json
  reasoners-q4/rq4/     a module for it: 1 layer, 2 query / 1 KV head, asymmetric int4 (with zero points),
                        the same layout plus unir.json

The references (references-quantized.json) are PyTorch runs of unir_model.Decoder holding the *dequantized*
weights: the float model the int4 graph encodes. So the comparison measures the serving path (MatMulNBits kernels
with int8 activations at accuracy_level 4, GroupQueryAttention, the left-aligned cache), not the quantization
error. The test prompts are the first phrases of the fixture corpus whose every greedy step's top-1 logit clears the
runner-up by MIN_MARGIN (over twice TOLERANCE, the stated bound on the logits' error), alone and fused, so greedy
tokens must match exactly.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
from byte_bpe import ByteLevelBPE, train_merges  # noqa: E402
from make_fixtures import CORPUS, PROMPTS, SPECIALS, STEPS  # noqa: E402
from unir_model import Decoder, DecoderConfig, dump_json, fused_greedy  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
BLOCK = 32
ACCURACY_LEVEL = 4  # the builder's default for int4 on the CPU: int8 activations in the MatMulNBits kernels
# The logits tolerance the tests use (max |difference| over a row) and the margin the references keep above it.
TOLERANCE = 0.12
MIN_MARGIN = 0.25


def quantize_int4(w: torch.Tensor, symmetric: bool):
    """w [N, K] (a torch Linear weight: y = x w^T) -> MatMulNBits B [N, K/BLOCK, BLOCK/2] uint8, scales [N*K/BLOCK],
    zero points [N*ceil((K/BLOCK)/2)] uint8 or None, and the dequantized weight [N, K] the graph encodes."""
    w = w.detach().double().numpy()
    n, k = w.shape
    assert k % BLOCK == 0
    blocks = w.reshape(n, k // BLOCK, BLOCK)
    if symmetric:
        # Zero point 8 implied (no zero_points input): q in [0, 15] encodes (q - 8) * scale.
        scale = np.abs(blocks).max(axis=2) / 7.0
        scale[scale == 0] = 1.0
        zp = np.full(scale.shape, 8, dtype=np.int64)
    else:
        lo, hi = blocks.min(axis=2), blocks.max(axis=2)
        scale = (hi - lo) / 15.0
        scale[scale == 0] = 1.0
        zp = np.clip(np.round(-lo / scale), 0, 15).astype(np.int64)
    scale = scale.astype(np.float32).astype(np.float64)
    q = np.clip(np.round(blocks / scale[:, :, None]) + zp[:, :, None], 0, 15).astype(np.uint8)
    deq = ((q.astype(np.float64) - zp[:, :, None]) * scale[:, :, None]).reshape(n, k)
    # Two 4-bit values per byte, the first in the low nibble.
    packed = (q[:, :, 0::2] | (q[:, :, 1::2] << 4)).astype(np.uint8)
    zero_points = None
    if not symmetric:
        nb = k // BLOCK
        zpad = np.zeros((n, nb + (nb % 2)), dtype=np.uint8)
        zpad[:, :nb] = zp
        zero_points = (zpad[:, 0::2] | (zpad[:, 1::2] << 4)).astype(np.uint8).reshape(-1)
    return packed, scale.astype(np.float32).reshape(-1), zero_points, torch.tensor(deq, dtype=torch.float32)


class GraphBuilder:
    """Nodes and initializers of one decoder graph, named as the ORT-GenAI builder names its tensors."""

    def __init__(self, symmetric: bool):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.symmetric = symmetric

    def init(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs) -> list[str]:
        self.nodes.append(h.make_node(op, inputs, outputs, name=outputs[0].replace("/output_0", ""), domain=domain, **attrs))
        return outputs

    def linear(self, name: str, x: str, layer: torch.nn.Linear) -> tuple[str, torch.Tensor]:
        """MatMulNBits (+ Add for a bias); returns the output and the dequantized weight."""
        packed, scales, zps, deq = quantize_int4(layer.weight, self.symmetric)
        n, k = layer.weight.shape
        inputs = [x, self.init(f"{name}.MatMul.weight_Q4", packed), self.init(f"{name}.MatMul.weight_scales", scales)]
        if zps is not None:
            inputs.append(self.init(f"{name}.MatMul.weight_zp", zps))
        out = self.node("MatMulNBits", inputs, [f"{name}/MatMul/output_0"], domain="com.microsoft",
                        K=k, N=n, bits=4, block_size=BLOCK, accuracy_level=ACCURACY_LEVEL)[0]
        if layer.bias is not None:
            bias = self.init(f"{name}.Add.bias", layer.bias.detach().float().numpy())
            out = self.node("Add", [out, bias], [f"{name}/Add/output_0"])[0]
        return out, deq


def build_graph(model: Decoder, name: str, symmetric: bool) -> tuple[onnx.ModelProto, Decoder]:
    """The int4 + GQA graph of `model`, and a copy of the model holding the dequantized weights (the reference)."""
    cfg = model.cfg
    g = GraphBuilder(symmetric)
    reference = Decoder(cfg)
    reference.load_state_dict(model.state_dict())
    reference.eval()
    ref_params = dict(reference.named_parameters())
    hd, nh, kvh = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads

    # Attention-mask reformatting for GroupQueryAttention, as the builder writes it.
    g.node("ReduceSum", ["attention_mask", g.init("one_axis", np.array([1], dtype=np.int64))], ["/model/attn_mask_reformat/attn_mask_subgraph/ReduceSum/output_0"], keepdims=0)
    g.node("Sub", ["/model/attn_mask_reformat/attn_mask_subgraph/ReduceSum/output_0", g.init("one_i64", np.array(1, dtype=np.int64))], ["/model/attn_mask_reformat/attn_mask_subgraph/Sub/output_0"])
    g.node("Cast", ["/model/attn_mask_reformat/attn_mask_subgraph/Sub/output_0"], ["/model/attn_mask_reformat/attn_mask_subgraph/Sub/Cast/output_0"], to=TP.INT32)
    g.node("Shape", ["attention_mask"], ["/model/attn_mask_reformat/attn_mask_subgraph/Shape/output_0"])
    g.node("Gather", ["/model/attn_mask_reformat/attn_mask_subgraph/Shape/output_0", g.init("one_idx", np.array(1, dtype=np.int64))], ["/model/attn_mask_reformat/attn_mask_subgraph/Gather/output_0"], axis=0)
    g.node("Cast", ["/model/attn_mask_reformat/attn_mask_subgraph/Gather/output_0"], ["/model/attn_mask_reformat/attn_mask_subgraph/Gather/Cast/output_0"], to=TP.INT32)
    seqlens_k = "/model/attn_mask_reformat/attn_mask_subgraph/Sub/Cast/output_0"
    total_len = "/model/attn_mask_reformat/attn_mask_subgraph/Gather/Cast/output_0"

    # Rotary caches: cos/sin of position x inverse frequency, [max_positions, head_dim / 2].
    positions = torch.arange(cfg.max_position_embeddings).float()[:, None]
    freqs = positions * model.inv_freq[None, :]
    cos_cache = g.init("cos_cache", freqs.cos().numpy().astype(np.float32))
    sin_cache = g.init("sin_cache", freqs.sin().numpy().astype(np.float32))

    embed = g.init("model.embed_tokens.weight", model.embed_tokens.weight.detach().numpy())
    x = g.node("Gather", [embed, "input_ids"], ["/model/embed_tokens/Gather/output_0"])[0]
    residual = x
    norm_in = None
    for i, layer in enumerate(model.layers):
        p = f"/model/layers.{i}"
        ln_w = g.init(f"model.layers.{i}.input_layernorm.weight", layer.input_layernorm.weight.detach().numpy())
        if i == 0:
            normed = g.node("SimplifiedLayerNormalization", [x, ln_w], [f"{p}/input_layernorm/LayerNorm/output_0"], axis=-1, epsilon=cfg.rms_norm_eps, stash_type=1)[0]
        else:
            normed, _, _, residual = g.node("SkipSimplifiedLayerNormalization", [norm_in, residual, ln_w],
                                            [f"{p}/input_layernorm/SkipLayerNorm/output_0", f"{p}/input_layernorm/SkipLayerNorm/output_1",
                                             f"{p}/input_layernorm/SkipLayerNorm/output_2", f"{p}/input_layernorm/SkipLayerNorm/output_3"],
                                            domain="com.microsoft", epsilon=cfg.rms_norm_eps)
        attn = layer.self_attn
        q, dq = g.linear(f"{p}/attn/q_proj", normed, attn.q_proj)
        k, dk = g.linear(f"{p}/attn/k_proj", normed, attn.k_proj)
        v, dv = g.linear(f"{p}/attn/v_proj", normed, attn.v_proj)
        gqa = g.node("GroupQueryAttention", [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total_len, cos_cache, sin_cache],
                     [f"{p}/attn/GroupQueryAttention/output_0", f"present.{i}.key", f"present.{i}.value"], domain="com.microsoft",
                     num_heads=nh, kv_num_heads=kvh, do_rotary=1, rotary_interleaved=0, local_window_size=-1, scale=1.0 / float(np.sqrt(hd)))[0]
        o, do = g.linear(f"{p}/attn/o_proj", gqa, attn.o_proj)
        post_w = g.init(f"model.layers.{i}.post_attention_layernorm.weight", layer.post_attention_layernorm.weight.detach().numpy())
        normed2, _, _, residual = g.node("SkipSimplifiedLayerNormalization", [o, residual, post_w],
                                         [f"{p}/post_attention_layernorm/SkipLayerNorm/output_0", f"{p}/post_attention_layernorm/SkipLayerNorm/output_1",
                                          f"{p}/post_attention_layernorm/SkipLayerNorm/output_2", f"{p}/post_attention_layernorm/SkipLayerNorm/output_3"],
                                         domain="com.microsoft", epsilon=cfg.rms_norm_eps)
        gate, dg = g.linear(f"{p}/mlp/gate_proj", normed2, layer.gate_proj)
        up, du = g.linear(f"{p}/mlp/up_proj", normed2, layer.up_proj)
        sig = g.node("Sigmoid", [gate], [f"{p}/mlp/act_fn/Sigmoid/output_0"])[0]
        act = g.node("Mul", [gate, sig], [f"{p}/mlp/act_fn/Mul/output_0"])[0]
        prod = g.node("Mul", [act, up], [f"{p}/mlp/Mul/output_0"])[0]
        norm_in, dd = g.linear(f"{p}/mlp/down_proj", prod, layer.down_proj)
        for pname, deq in ((f"layers.{i}.self_attn.q_proj.weight", dq), (f"layers.{i}.self_attn.k_proj.weight", dk),
                           (f"layers.{i}.self_attn.v_proj.weight", dv), (f"layers.{i}.self_attn.o_proj.weight", do),
                           (f"layers.{i}.gate_proj.weight", dg), (f"layers.{i}.up_proj.weight", du), (f"layers.{i}.down_proj.weight", dd)):
            ref_params[pname].data.copy_(deq)
    final_w = g.init("model.norm.weight", model.norm.weight.detach().numpy())
    final = g.node("SkipSimplifiedLayerNormalization", [norm_in, residual, final_w],
                   ["/model/norm/SkipLayerNorm/output_0", "/model/norm/SkipLayerNorm/output_1", "/model/norm/SkipLayerNorm/output_2",
                    "/model/norm/SkipLayerNorm/output_3"], domain="com.microsoft", epsilon=cfg.rms_norm_eps)[0]
    logits, dl = g.linear("/lm_head", final, model.lm_head)
    g.nodes[-1].output[0] = "logits"
    ref_params["lm_head.weight"].data.copy_(dl)

    kv = lambda n, s: h.make_tensor_value_info(n, TP.FLOAT, ["batch_size", kvh, s, hd])  # noqa: E731
    inputs = [h.make_tensor_value_info("input_ids", TP.INT64, ["batch_size", "sequence_length"]),
              h.make_tensor_value_info("attention_mask", TP.INT64, ["batch_size", "total_sequence_length"])]
    outputs = [h.make_tensor_value_info("logits", TP.FLOAT, ["batch_size", "sequence_length", cfg.vocab_size])]
    for i in range(cfg.num_hidden_layers):
        inputs += [kv(f"past_key_values.{i}.key", "past_sequence_length"), kv(f"past_key_values.{i}.value", "past_sequence_length")]
        outputs += [kv(f"present.{i}.key", "total_sequence_length"), kv(f"present.{i}.value", "total_sequence_length")]
    graph = h.make_graph(g.nodes, name, inputs, outputs, initializer=g.inits)
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)],
                         producer_name="unir-serve training/make_quantized_fixtures.py")
    proto.ir_version = 8
    return proto, reference


def genai_config(cfg: DecoderConfig, eos: list[int], bos: int) -> dict:
    """genai_config.json as the model builder writes it for a Qwen2 decoder on the CPU."""
    return {
        "model": {
            "bos_token_id": bos,
            "context_length": cfg.max_position_embeddings,
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "filename": "model.onnx",
                "head_size": cfg.head_dim,
                "hidden_size": cfg.hidden_size,
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                           "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"},
                "num_attention_heads": cfg.num_attention_heads,
                "num_hidden_layers": cfg.num_hidden_layers,
                "num_key_value_heads": cfg.num_key_value_heads,
            },
            "eos_token_id": eos,
            "pad_token_id": bos,
            "type": "qwen2",
            "vocab_size": cfg.vocab_size,
        },
        "search": {"diversity_penalty": 0.0, "do_sample": False, "early_stopping": True, "length_penalty": 1.0,
                   "max_length": cfg.max_position_embeddings, "min_length": 0, "no_repeat_ngram_size": 0, "num_beams": 1,
                   "num_return_sequences": 1, "past_present_share_buffer": False, "repetition_penalty": 1.0,
                   "temperature": 1.0, "top_k": 1, "top_p": 1.0},
    }


def write_genai_dir(proto: onnx.ModelProto, out_dir: str, config: dict, tok_json: dict, tok_config: dict,
                    manifest: dict | None = None) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for stale in ("config.json", "model.onnx.data"):
        if os.path.exists(os.path.join(out_dir, stale)):
            os.remove(os.path.join(out_dir, stale))
    # Weights in model.onnx.data beside the graph, the builder's name for external data.
    onnx.save_model(proto, os.path.join(out_dir, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=1024)
    dump_json(os.path.join(out_dir, "genai_config.json"), config)
    dump_json(os.path.join(out_dir, "tokenizer.json"), tok_json)
    dump_json(os.path.join(out_dir, "tokenizer_config.json"), tok_config)
    if manifest is not None:
        dump_json(os.path.join(out_dir, "unir.json"), manifest)


def margins_ok(steps: list[list[float]]) -> bool:
    return all(float(torch.topk(torch.tensor(r), 2).values.diff().abs()) >= MIN_MARGIN for r in steps)


def select_prompts(tok: ByteLevelBPE, *combos) -> list[str]:
    """The first candidate phrases (words of the fixture corpus, one to eight of them) whose greedy steps keep the margin
    alone and fused, one per token length from 1 up, so that a batch of them mixes prompt lengths. With int8
    activations the logits move by up to about TOLERANCE; near-ties would make greedy tokens a coin toss."""
    words = CORPUS.replace(".", "").replace(",", "").split()
    chosen: dict[int, str] = {}
    for n in range(1, 9):
        for start in range(len(words) - n + 1):
            phrase = " ".join(words[start:start + n])
            length = len(tok.encode(phrase))
            if length in chosen or len(chosen) >= len(PROMPTS):
                continue
            if all(margins_ok(fused_greedy(c, tok.encode(phrase), STEPS)[1]) for c in combos):
                chosen[length] = phrase
    if len(chosen) < len(PROMPTS):
        raise SystemExit(f"only {len(chosen)} candidate prompts keep the margin {MIN_MARGIN}")
    return [chosen[k] for k in sorted(chosen)]


def reference(models_weights, tok: ByteLevelBPE, prompts: list[str]) -> list[dict]:
    out = []
    for prompt in prompts:
        ids = tok.encode(prompt)
        tokens, logits = fused_greedy(models_weights, ids, STEPS)
        out.append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": tokens, "greedy_text": tok.decode(tokens),
                    "step_logits": [[round(x, 6) for x in r] for r in logits]})
    return out


def main() -> None:
    torch.set_num_threads(1)
    tok = ByteLevelBPE(train_merges(CORPUS, 48), SPECIALS)
    eot, _, im_end = (tok.specials[s] for s in SPECIALS)
    tok_config = {"bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "model_max_length": 512,
                  "tokenizer_class": "PreTrainedTokenizerFast"}
    base_cfg = DecoderConfig(vocab_size=tok.size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                             intermediate_size=128, with_position_ids=False, bos_token_id=eot, eos_token_id=eot)
    module_cfg = DecoderConfig(vocab_size=tok.size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                               intermediate_size=64, with_position_ids=False, bos_token_id=eot, eos_token_id=eot)

    def seeded(cfg: DecoderConfig, seed: int) -> Decoder:
        torch.manual_seed(seed)
        m = Decoder(cfg).eval()
        with torch.no_grad():
            m.lm_head.weight.mul_(4.0)
        return m

    base, base_ref = build_graph(seeded(base_cfg, 500), "tiny-q4-genai", symmetric=True)
    module, module_ref = build_graph(seeded(module_cfg, 900), "rq4", symmetric=False)
    prompts = select_prompts(tok, [(base_ref, 1.0)], [(base_ref, 1.0), (module_ref, 1.0)])
    alone = reference([(base_ref, 1.0)], tok, prompts)
    fused = reference([(base_ref, 1.0), (module_ref, 1.0)], tok, prompts)

    eos = [eot, im_end]
    write_genai_dir(base, os.path.join(ROOT, "tiny-q4-genai"), genai_config(base_cfg, eos, eot), tok.tokenizer_json(), tok_config)
    write_genai_dir(module, os.path.join(ROOT, "reasoners-q4", "rq4"), genai_config(module_cfg, eos, eot), tok.tokenizer_json(), tok_config,
                    manifest={"name": "rq4", "version": "1.0.0", "default_weight": 1.0, "base": "tiny-q4-genai",
                              "description": "int4 (MatMulNBits, zero points) + GroupQueryAttention fixture module, ORT-GenAI layout"})
    refs = {"tolerance": TOLERANCE, "min_margin": MIN_MARGIN, "block_size": BLOCK, "accuracy_level": ACCURACY_LEVEL, "steps": STEPS,
            "models": {"tiny-q4-genai": alone}, "fused": {"rq4": fused}}
    with open(os.path.join(ROOT, "references-quantized.json"), "w") as f:
        json.dump(refs, f, separators=(",", ":"))
    print("quantized fixtures written to", os.path.normpath(ROOT), "prompts", prompts)


if __name__ == "__main__":
    main()
