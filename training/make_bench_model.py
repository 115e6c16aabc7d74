"""A larger random-weight base (float32, ~25M parameters, the demo tokenizer) for CPU benchmarks where one
decode step should cost several milliseconds, as real models' steps do. Not committed (~100 MB):

  /usr/bin/python3 training/make_bench_model.py            # writes .bench-models/base-25m
  npx tsx bench/engine-overhead.ts --model .bench-models/base-25m
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from byte_bpe import ByteLevelBPE  # noqa: E402
from unir_model import Decoder, DecoderConfig, write_model_dir  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".bench-models", "base-25m")


def main() -> None:
    torch.manual_seed(0)
    tok = ByteLevelBPE([], ["<|endoftext|>"])
    eos = tok.specials["<|endoftext|>"]
    cfg = DecoderConfig(vocab_size=tok.size, hidden_size=512, num_hidden_layers=8, num_attention_heads=8,
                        num_key_value_heads=4, intermediate_size=1536, max_position_embeddings=2048,
                        with_num_logits_to_keep=True, bos_token_id=None, eos_token_id=eos)
    model = Decoder(cfg).eval()
    write_model_dir(model, OUT, tok.tokenizer_json(), {"eos_token": "<|endoftext|>", "bos_token": None},
                    {"eos_token_id": eos})
    print(f"{sum(p.numel() for p in model.parameters())} parameters written to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
