"""Builds tests/fixtures/logits-to-keep/: one tiny random-weight decoder exported three ways, and its PyTorch
references, for the tests of the prefill graph rewrite (models/logits-to-keep-rewrite.ts).

  /usr/bin/python3 training/make_logits_to_keep_fixture.py        (seeded; a few seconds on a CPU)

  with-keep      an export with the num_logits_to_keep input (logits for the last N positions)
  without-keep   the same weights exported without it (logits for every position, as most Optimum exports), with its
                 weights in external data (onnx/model.onnx + model.onnx_data): the rewrite must keep them working
  unsafe         a decoder whose logits mix positions (each position's logits plus 0.25 x their mean over the
                 sequence): the rewrite must refuse it and serve it unchanged

references.json: for each prompt, the greedy continuation and the (last-position) logits of every step, from
PyTorch, for the plain decoder and for the unsafe one; and the prefill logits of every prompt position of the first
prompt (what num_logits_to_keep = 0 returns).
"""
from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from byte_bpe import ByteLevelBPE, train_merges  # noqa: E402
from make_fixtures import CORPUS, SPECIALS  # noqa: E402
from unir_model import Decoder, DecoderConfig, fused_greedy, write_model_dir  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "logits-to-keep")
PROMPTS = ["the quick brown fox jumps over the lazy dog", "hello world", "a"]
STEPS = 6


class PositionMixingDecoder(Decoder):
    """Logits of each position plus a quarter of their mean over the sequence: not position-wise."""

    def forward(self, input_ids, attention_mask, position_ids, past, num_logits_to_keep=None):
        logits, presents = super().forward(input_ids, attention_mask, position_ids, past, None)
        return logits + 0.25 * logits.mean(dim=1, keepdim=True), presents


def config(keep: bool) -> DecoderConfig:
    return DecoderConfig(vocab_size=0, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         intermediate_size=128, with_num_logits_to_keep=keep)


def main() -> None:
    torch.set_num_threads(1)
    tok = ByteLevelBPE(train_merges(CORPUS, 48), SPECIALS)
    eot = tok.specials["<|endoftext|>"]
    tok_json = tok.tokenizer_json()
    tok_config = {"bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "model_max_length": 512,
                  "tokenizer_class": "PreTrainedTokenizerFast"}
    gen_config = {"eos_token_id": eot, "bos_token_id": eot}

    def build(cls, keep: bool):
        cfg = config(keep)
        cfg.vocab_size, cfg.bos_token_id, cfg.eos_token_id = tok.size, eot, eot
        torch.manual_seed(7)
        model = cls(cfg)
        with torch.no_grad():
            model.lm_head.weight.mul_(4.0)
        return model.eval()

    with_keep, without_keep, unsafe = build(Decoder, True), build(Decoder, False), build(PositionMixingDecoder, False)
    write_model_dir(with_keep, os.path.join(ROOT, "with-keep"), tok_json, tok_config, gen_config)
    write_model_dir(without_keep, os.path.join(ROOT, "without-keep"), tok_json, tok_config, gen_config,
                    onnx_subdir=True, external_data=True)
    write_model_dir(unsafe, os.path.join(ROOT, "unsafe"), tok_json, tok_config, gen_config)

    def greedy(model):
        out = []
        for prompt in PROMPTS:
            ids = tok.encode(prompt)
            tokens, logits = fused_greedy([(model, 1.0)], ids, STEPS)
            out.append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": tokens,
                        "step_logits": [[round(x, 6) for x in row] for row in logits]})
        return out

    first = tok.encode(PROMPTS[0])
    with torch.no_grad():
        all_positions, _ = without_keep(torch.tensor([first]), torch.ones(1, len(first), dtype=torch.long),
                                        torch.arange(len(first))[None], without_keep.empty_past(1))
    refs = {"steps": STEPS, "plain": greedy(without_keep), "unsafe": greedy(unsafe),
            "prefill_all_positions": {"prompt_ids": first, "logits": [[round(x, 6) for x in row] for row in all_positions[0].tolist()]}}
    with open(os.path.join(ROOT, "references.json"), "w") as f:
        json.dump(refs, f, separators=(",", ":"))
    print("written to", os.path.normpath(ROOT))


if __name__ == "__main__":
    main()
