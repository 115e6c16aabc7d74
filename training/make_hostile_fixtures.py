"""Builds the hostile fixture models of the chaos suite under tests/fixtures/hostile/.

  /usr/bin/python3 training/make_hostile_fixtures.py        (seeded; a few seconds on a CPU)

Each is a small model directory in the fixtures' layout, with the fixtures' byte-level tokenizer, so that it loads
beside tests/fixtures/tiny-mha-f32 and passes every check the server made before the chaos suite existed:
  nan-module        a reasoning module whose graph computes `logits + NaN`: every logit of every row is NaN
  inf-module        a reasoning module whose logits overflow to +-Infinity (each logit times 1e38, twice)
  wrong-kv-module   a reasoning module whose cache is [batch, past, kv_heads, head_dim] (heads and positions
                    swapped) with symbolic dimensions, so the static signature check cannot see it
  nan-base          a base whose logits are NaN for every row whose input holds the token "@" (id in README),
                    finite otherwise: a base that fails for some inputs only (model_failed containment)
The other hostile inputs of the suite (a FIFO, a symbolic-link race, huge weights, a slow load) are made by the
tests themselves from the regular fixtures.
"""
from __future__ import annotations

import inspect
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from byte_bpe import ByteLevelBPE, train_merges  # noqa: E402
from make_fixtures import CHATML, CORPUS, SPECIALS, make_model  # noqa: E402
from unir_model import Decoder, DecoderConfig, dump_json, write_model_dir  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "hostile")
POISON_CHAR = "@"


class NanDecoder(Decoder):
    def forward(self, input_ids, attention_mask, position_ids, past, num_logits_to_keep=None):
        logits, presents = super().forward(input_ids, attention_mask, position_ids, past, num_logits_to_keep)
        return logits + float("nan"), presents


class InfDecoder(Decoder):
    def forward(self, input_ids, attention_mask, position_ids, past, num_logits_to_keep=None):
        logits, presents = super().forward(input_ids, attention_mask, position_ids, past, num_logits_to_keep)
        # float32 overflows to +-Infinity with each logit's sign (no logit of this model is exactly 0).
        return logits * 1e38 * 1e38, presents


class PoisonTokenDecoder(Decoder):
    """NaN logits for the rows whose new tokens include `poison_id`; the cache stays finite."""

    def __init__(self, cfg: DecoderConfig, poison_id: int):
        super().__init__(cfg)
        self.poison_id = poison_id

    def forward(self, input_ids, attention_mask, position_ids, past, num_logits_to_keep=None):
        logits, presents = super().forward(input_ids, attention_mask, position_ids, past, num_logits_to_keep)
        poisoned = (input_ids == self.poison_id).any(dim=1)[:, None, None]
        return torch.where(poisoned, torch.full((), float("nan")), logits), presents


class _SwappedKvWrapper(nn.Module):
    """Exports the cache as [batch, past, kv_heads, head_dim]: the inputs are transposed into the model's layout,
    the presents back out of it."""

    def __init__(self, model: Decoder):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *flat_past):
        layers = self.model.cfg.num_hidden_layers
        past = [(flat_past[2 * i].transpose(1, 2), flat_past[2 * i + 1].transpose(1, 2)) for i in range(layers)]
        logits, presents = self.model(input_ids, attention_mask, position_ids, past)
        out = [logits]
        for k, v in presents:
            out += [k.transpose(1, 2), v.transpose(1, 2)]
        return tuple(out)


def export_swapped_kv(model: Decoder, path: str) -> None:
    cfg = model.cfg
    b, s, p = 2, 3, 4
    names_in = ["input_ids", "attention_mask", "position_ids"]
    args = [torch.ones(b, s, dtype=torch.long), torch.ones(b, p + s, dtype=torch.long), torch.arange(p, p + s).repeat(b, 1)]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
    names_out = ["logits"]
    for i in range(cfg.num_hidden_layers):
        for kind in ("key", "value"):
            names_in.append(f"past_key_values.{i}.{kind}")
            args.append(torch.randn(b, p, cfg.num_key_value_heads, cfg.head_dim))
            axes[f"past_key_values.{i}.{kind}"] = {0: "batch_size", 1: "past_sequence_length"}
            names_out.append(f"present.{i}.{kind}")
            axes[f"present.{i}.{kind}"] = {0: "batch_size", 1: "total_sequence_length"}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    extra = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad():
        torch.onnx.export(_SwappedKvWrapper(model.eval()), tuple(args), path, input_names=names_in,
                          output_names=names_out, dynamic_axes=axes, opset_version=17, **extra)


def main() -> None:
    torch.set_num_threads(1)
    tok = ByteLevelBPE(train_merges(CORPUS, 48), SPECIALS)
    eot, im_end = tok.specials["<|endoftext|>"], tok.specials["<|im_end|>"]
    vocab = tok.size
    tok_json = tok.tokenizer_json()
    tok_config = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                  "model_max_length": 512, "chat_template": CHATML, "tokenizer_class": "PreTrainedTokenizerFast"}
    gen_config = {"eos_token_id": [eot, im_end], "bos_token_id": eot}
    module_cfg = DecoderConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               num_key_value_heads=2, intermediate_size=64, bos_token_id=eot, eos_token_id=eot)
    base_cfg = DecoderConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=4, intermediate_size=128, with_num_logits_to_keep=True,
                             bos_token_id=eot, eos_token_id=eot)
    weights = make_model(module_cfg, 101).state_dict()

    def module(cls, name: str, description: str) -> None:
        model = cls(module_cfg)
        model.load_state_dict(weights)
        manifest = {"name": name, "version": "1.0.0", "description": description, "default_weight": 1.0,
                    "base": "tiny-mha-f32"}
        write_model_dir(model.eval(), os.path.join(ROOT, name), tok_json, tok_config, gen_config, manifest=manifest)

    module(NanDecoder, "nan-module", "every logit is NaN (logits + NaN)")
    module(InfDecoder, "inf-module", "every logit is +-Infinity (overflow)")

    swapped = make_model(module_cfg, 101)
    out = os.path.join(ROOT, "wrong-kv-module")
    export_swapped_kv(swapped, os.path.join(out, "model.onnx"))
    dump_json(os.path.join(out, "config.json"), module_cfg.hf_config())
    dump_json(os.path.join(out, "tokenizer.json"), tok_json)
    dump_json(os.path.join(out, "tokenizer_config.json"), tok_config)
    dump_json(os.path.join(out, "generation_config.json"), gen_config)
    dump_json(os.path.join(out, "unir.json"), {"name": "wrong-kv-module", "version": "1.0.0", "default_weight": 1.0,
                                               "description": "cache laid out [batch, past, heads, head_dim]"})

    poison_ids = tok.encode(POISON_CHAR)
    assert len(poison_ids) == 1, poison_ids
    base = PoisonTokenDecoder(base_cfg, poison_ids[0])
    base.load_state_dict(make_model(base_cfg, 1).state_dict())
    write_model_dir(base.eval(), os.path.join(ROOT, "nan-base"), tok_json, tok_config, gen_config)
    print("hostile fixtures written to", os.path.normpath(ROOT), "poison token", POISON_CHAR, "=", poison_ids[0])


if __name__ == "__main__":
    main()
