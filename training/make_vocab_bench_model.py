"""A Qwen2-shaped random-weight base of about 129M parameters with Qwen2.5's 151,936-token vocabulary, exported twice
(with and without num_logits_to_keep), and a 39M reasoning module for it: the models of the per-token cost
benchmarks (bench/prefill.ts, bench/step-share.ts). Not committed (about 1.2 GB, float32); the benches say how to
build them:

  /usr/bin/python3 training/make_vocab_bench_model.py          # ~2 minutes; writes .bench-models/vocab-152k/

Writes .bench-models/vocab-152k/{base, base-no-keep, reasoners/r1}:
  base          hidden 384, 8 layers, 6 query / 2 KV heads, intermediate 1152, vocabulary 151936, untied output
                projection; float32; position_ids and num_logits_to_keep inputs (an export that keeps logits)
  base-no-keep  the same weights exported without num_logits_to_keep, as most Optimum and onnx-community exports
                are: a prefill computes logits for every prompt position
  reasoners/r1  hidden 128, 2 layers, same vocabulary and tokenizer (unir.json names the base)

The output projection is scaled by 4 as make_gpu_model.py does: logits have a standard deviation of about 2.3, so
every id lies within 30 of the max (a flat row for the sampler, the costly case). The tokenizer is the fixtures'
small byte-level BPE; ids past its 307 tokens decode to nothing. Weights are seeded: the models measure speed.
"""
from __future__ import annotations

import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpu_model import bench_tokenizer  # noqa: E402
from unir_model import Decoder, DecoderConfig, write_model_dir  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".bench-models", "vocab-152k")
BASE = dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, num_key_value_heads=2,
            intermediate_size=1152, vocab_size=151936, max_position_embeddings=8192, rope_theta=1000000.0)
MODULE = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
              intermediate_size=384, vocab_size=151936, max_position_embeddings=8192, rope_theta=1000000.0)


def build(shape: dict, seed: int, eot: int, keep: bool) -> Decoder:
    cfg = DecoderConfig(**shape, with_position_ids=True, with_num_logits_to_keep=keep, bos_token_id=eot, eos_token_id=eot)
    torch.manual_seed(seed)
    model = Decoder(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(4.0)
    return model.eval()


def main() -> None:
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    tok, eot, tok_config, gen_config = bench_tokenizer(8192)
    jobs = [("base", BASE, 0, True, None), ("base-no-keep", BASE, 0, False, None),
            (os.path.join("reasoners", "r1"), MODULE, 1, True,
             {"name": "r1", "version": "1.0.0", "default_weight": 1.0, "base": "base",
              "description": "random-weight benchmark module, same vocabulary as the base"})]
    for name, shape, seed, keep, manifest in jobs:
        t0 = time.time()
        model = build(shape, seed, eot, keep)
        out_dir = os.path.join(OUT, name)
        write_model_dir(model, out_dir, tok.tokenizer_json(), tok_config, gen_config, manifest=manifest)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {params / 1e6:.1f}M parameters -> {os.path.normpath(out_dir)} ({time.time() - t0:.0f} s)", flush=True)
        del model


if __name__ == "__main__":
    main()
