"""Builds the randomly initialised models bench/gpu measures: a Qwen2-like base large enough to matter on a GPU
and a small reasoning module for it, in unir-serve's layout (the exporter of unir_model.py).

  python3 training/make_gpu_model.py --out /tmp/unir-gpu-models            (~0.5B base, float16; about a minute)
  /usr/bin/python3 training/make_gpu_model.py --out /tmp/unir-gpu-small --small   (tiny shapes, CPU dry run)

Writes OUT/base (hidden 896, 24 layers, 14 query / 2 KV heads, intermediate 4864, vocabulary 151936, as
Qwen2.5-0.5B; float16 weights, activations and KV cache; position_ids and num_logits_to_keep inputs) and
OUT/reasoners/r1 (2 layers, same vocabulary and tokenizer, unir.json naming the base).

Half precision is traced in bfloat16 on the CPU, which any PyTorch runs (PyTorch 1.13 has no float16 matmul on
the CPU), then the graph is rewritten in float16 (unir_model.bf16_graph_to_fp16): one path, the same here and on a
GPU host, with no CUDA needed to build. The weights are random (seeded): the model measures speed, not quality.
The tokenizer is the fixtures' small byte-level BPE; ids past its 307 tokens decode to nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byte_bpe import ByteLevelBPE, train_merges  # noqa: E402
from make_fixtures import CHATML, CORPUS, SPECIALS  # noqa: E402
from unir_model import Decoder, DecoderConfig, bf16_graph_to_fp16, to_compute_dtype, write_model_dir  # noqa: E402

FULL = {
    "base": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0),
    "module": dict(hidden_size=512, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                   intermediate_size=1536, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0),
}
SMALL = {
    "base": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128, vocab_size=4096, max_position_embeddings=4096),
    "module": dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                   intermediate_size=64, vocab_size=4096, max_position_embeddings=4096),
}


def bench_tokenizer(max_length: int):
    """The fixtures' byte-level BPE with a ChatML template, as benchmark models use it: (tokenizer, end-of-text id,
    tokenizer_config.json, generation_config.json)."""
    tok = ByteLevelBPE(train_merges(CORPUS, 48), SPECIALS)
    eot = tok.specials["<|endoftext|>"]
    tok_config = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                  "model_max_length": max_length, "chat_template": CHATML, "tokenizer_class": "PreTrainedTokenizerFast"}
    gen_config = {"eos_token_id": [eot, tok.specials["<|im_end|>"]], "bos_token_id": eot}
    return tok, eot, tok_config, gen_config


def build(shape: dict, compute_dtype: str, seed: int, eot: int) -> Decoder:
    trace_dtype = "bfloat16" if compute_dtype == "float16" else compute_dtype
    cfg = DecoderConfig(**shape, kv_dtype="float16", with_position_ids=True, with_num_logits_to_keep=True,
                        compute_dtype=trace_dtype, bos_token_id=eot, eos_token_id=eot)
    torch.manual_seed(seed)
    model = Decoder(cfg)
    with torch.no_grad():
        # Peaked rather than flat distributions, as a trained model's are (sampling cost depends on it).
        model.lm_head.weight.mul_(4.0)
    return to_compute_dtype(model.eval())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="directory to write base/ and reasoners/r1/ into")
    ap.add_argument("--small", action="store_true", help="tiny shapes for a CPU dry run of the benchmark")
    ap.add_argument("--compute-dtype", choices=["float16", "float32"], default="float16",
                    help="float16 (default): half precision throughout; float32: float32 compute, float16 KV cache")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(16, os.cpu_count() or 1)))

    tok, eot, tok_config, gen_config = bench_tokenizer(32768)
    shapes = SMALL if args.small else FULL
    transform = bf16_graph_to_fp16 if args.compute_dtype == "float16" else None

    for role, seed in (("base", args.seed), ("module", args.seed + 1)):
        t0 = time.time()
        model = build(shapes[role], args.compute_dtype, seed, eot)
        params = sum(p.numel() for p in model.parameters())
        out_dir = os.path.join(args.out, "base") if role == "base" else os.path.join(args.out, "reasoners", "r1")
        manifest = None if role == "base" else {
            "name": "r1", "version": "1.0.0", "default_weight": 1.0, "base": "base",
            "description": "random-weight benchmark module, same vocabulary as the base"}
        write_model_dir(model, out_dir, tok.tokenizer_json(), tok_config, gen_config, manifest=manifest, transform=transform)
        # config.json says what the graph computes in, not the dtype it was traced in.
        if transform is not None:
            import json
            path = os.path.join(out_dir, "config.json")
            with open(path) as f:
                cfg = json.load(f)
            cfg["torch_dtype"] = "float16"
            with open(path, "w") as f:
                json.dump(cfg, f, indent=1)
                f.write("\n")
        size = os.path.getsize(os.path.join(out_dir, "model.onnx"))
        print(f"{role}: {params / 1e6:.1f}M parameters, {args.compute_dtype} compute, float16 KV, "
              f"{size / 2**20:.0f} MiB -> {out_dir} ({time.time() - t0:.0f} s)", flush=True)
        del model


if __name__ == "__main__":
    main()
