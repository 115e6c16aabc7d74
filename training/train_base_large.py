"""Trains base-L, a larger base on the demo base's tokenizer and data recipe, for the weak-to-strong demo.

  nice -n 19 /usr/bin/python3 training/train_base_large.py     (seeded; see python-eval-base-large.json for its time)

The recipe is train_demo.train_base's (same seed, same easy-level add/sort problems and filler text, same steps,
batch and learning-rate schedule); only the architecture is larger (about 3x the parameters). No module is trained
here: the weak-to-strong experiment serves base-L with the modules trained against the small base
(demo-models/reasoners), and `npm run eval` measures it over HTTP.

Writes demo-models/base-large/ (model directory) and demo-models/eval/python-eval-base-large.json (base-L alone,
greedy float32 in PyTorch, on the held-out sets and on problems of its own training level).
Environment overrides: BASE_STEPS, EVAL_N, OUT (as train_demo.py).
"""
from __future__ import annotations

import json
import os
import time

import torch

import train_demo as D
from unir_model import DecoderConfig, dump_json, write_model_dir


def base_large_config() -> DecoderConfig:
    return DecoderConfig(vocab_size=D.VOCAB, hidden_size=384, num_hidden_layers=6, num_attention_heads=8,
                         num_key_value_heads=4, intermediate_size=1024, max_position_embeddings=2048,
                         kv_dtype="float32", with_position_ids=True, with_num_logits_to_keep=True,
                         bos_token_id=None, eos_token_id=D.EOS)


def main() -> None:
    torch.set_num_threads(2)
    t0 = time.time()
    sets, easy, _ = D.make_eval_sets(D.EVAL_N)
    # The held-out sets are regenerated from the seed: they must be the committed ones.
    for name, items in sets.items():
        path = os.path.join(D.OUT, "eval", f"{name}.jsonl")
        if os.path.exists(path) and D.EVAL_N == 200:
            with open(path) as f:
                assert [json.loads(line) for line in f] == items, f"{path} differs from the seeded eval set"
    base = D.train_base(base_large_config(), D.BASE_STEPS)
    train_seconds = time.time() - t0
    D.log(f"trained in {train_seconds / 60:.1f} min")
    with D.fp32_conv_linear():
        easy_acc = D.accuracy([(base, 1.0)], easy)
        hard = {k: D.accuracy([(base, 1.0)], v) for k, v in sets.items()}
    D.log(f"base-L on easy (training-level) problems: {easy_acc * 100:.1f}%; held-out: {hard}")
    out_dir = os.path.join(D.OUT, "base-large")
    tok_config = {"eos_token": "<|endoftext|>", "bos_token": None, "model_max_length": 2048,
                  "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
                  "tokenizer_class": "PreTrainedTokenizerFast"}
    write_model_dir(base, out_dir, D.TOK.tokenizer_json(), tok_config, {"eos_token_id": D.EOS})
    onnx_bytes = os.path.getsize(os.path.join(out_dir, "model.onnx"))
    dump_json(os.path.join(D.OUT, "eval", "python-eval-base-large.json"), {
        "command": f"nice -n {os.nice(0)} /usr/bin/python3 training/train_base_large.py",
        "decoding": "greedy, float32, base-L alone, at most 96 new tokens, stop at EOS",
        "accuracy": {"base-L": {k: round(v, 4) for k, v in hard.items()}},
        "base_on_easy_training_level": round(easy_acc, 4),
        "model": {"params": D.n_params(base), "onnx_bytes": onnx_bytes, "config": base_large_config().hf_config()},
        "steps": D.BASE_STEPS,
        "train_seconds": round(train_seconds, 1),
        "seconds": round(time.time() - t0, 1),
        # The niceness this run had (os.nice(0) reads it), not a fixed text.
        "note": f"trained with nice -n {os.nice(0)} on a 2-core machine shared with other jobs: the time is wall-clock",
    })
    D.log(f"base-L: {D.n_params(base):,} params, {onnx_bytes / 1e6:.1f} MB; done in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
