"""Builds the tiny random-weight fixture models under tests/fixtures/ and their PyTorch reference outputs.

  /usr/bin/python3 training/make_fixtures.py        (seeded; a few seconds on a CPU)

Models (all share one byte-level BPE tokenizer):
  tiny-mha-f32   multi-head attention, float32 KV, position_ids and num_logits_to_keep inputs, chat template
  tiny-gqa-f16   grouped-query attention (4 query / 2 KV heads), float16 KV, no position_ids, onnx/ subdir
  reasoners/r1   a module for tiny-mha-f32, same vocabulary
  reasoners/r2   a module for tiny-mha-f32 whose vocabulary is padded by 32 rows
  reasoners-alt/r1   another version of r1 (other weights), for hot replace tests
  incompatible/bad-tokenizer   a module whose tokenizer maps tokens to other ids
  faulty/r-fails   a module that loads and passes the load-time test run, then fails in ONNX Runtime for any run
                 over more than 8 positions

references.json holds, per model and prompt, the greedy continuation and the logits of every step, and the
same for fused combinations (base + w1*r1 + w2*r2). Tests compare the ONNX Runtime engine against them.
"""
from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from byte_bpe import ByteLevelBPE, train_merges  # noqa: E402
from unir_model import Decoder, DecoderConfig, dump_json, fused_greedy, write_model_dir  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
CORPUS = (
    "the quick brown fox jumps over the lazy dog. hello world, hello there. "
    "the cat sat on the mat and the dog sat on the log. once upon a time there was a model that "
    "streamed tokens to the world. reasoning modules add their logits to the base model. "
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
PROMPTS = ["Hello world", "The quick brown fox", "once upon a time", "a"]
STEPS = 8
# Greedy references are only meaningful when the top-1 logit clears the runner-up by more than the numeric
# error of the runtime; the script refuses weights that leave a near-tie.
MIN_MARGIN = {"float32": 1e-3, "float16": 5e-2}


class FailingDecoder(Decoder):
    """Makes a tensor of 8 - positions zeros: the graph exports, loads and passes the load-time test run (a few
    positions), and every run over more than 8 positions fails inside ONNX Runtime (a negative dimension), as a
    module with a broken graph would at serving time."""

    def forward(self, input_ids, attention_mask, position_ids, past, num_logits_to_keep=None):
        logits, presents = super().forward(input_ids, attention_mask, position_ids, past, num_logits_to_keep)
        return logits + 0.0 * torch.zeros(8 - attention_mask.shape[1]).sum(), presents


def make_model(cfg: DecoderConfig, seed: int, logit_scale: float = 4.0) -> Decoder:
    torch.manual_seed(seed)
    model = Decoder(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(logit_scale)
    return model.eval()


def margins_ok(logits_per_step, dtype: str) -> bool:
    for row in logits_per_step:
        top = torch.topk(torch.tensor(row), 2).values
        if float(top[0] - top[1]) < MIN_MARGIN[dtype]:
            return False
    return True


def build_with_margin(cfg: DecoderConfig, seed: int, tok: ByteLevelBPE, others=()) -> Decoder:
    """The first seed from `seed` on whose greedy references have no near-ties, alone and fused."""
    for attempt in range(50):
        model = make_model(cfg, seed + attempt)
        combos = [[(model, 1.0)]] + [[(model, 1.0), *o] for o in others]
        if all(margins_ok(fused_greedy(c, tok.encode(p), STEPS)[1], cfg.kv_dtype) for c in combos for p in PROMPTS):
            return model
    raise SystemExit(f"no seed without near-ties for {cfg}")


def reference(models_weights, tok: ByteLevelBPE) -> list[dict]:
    out = []
    for prompt in PROMPTS:
        ids = tok.encode(prompt)
        tokens, logits = fused_greedy(models_weights, ids, STEPS)
        out.append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": tokens,
                    "greedy_text": tok.decode(tokens), "step_logits": [[round(x, 6) for x in r] for r in logits]})
    return out


def main() -> None:
    torch.set_num_threads(1)
    tok = ByteLevelBPE(train_merges(CORPUS, 48), SPECIALS)
    eot, im_start, im_end = (tok.specials[s] for s in SPECIALS)
    vocab = tok.size
    tok_json = tok.tokenizer_json()
    tok_config = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                  "model_max_length": 512, "chat_template": CHATML, "tokenizer_class": "PreTrainedTokenizerFast"}
    plain_config = {k: v for k, v in tok_config.items() if k != "chat_template"} | {"eos_token": "<|endoftext|>"}
    gen_config = {"eos_token_id": [eot, im_end], "bos_token_id": eot}

    mha_cfg = DecoderConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=4, intermediate_size=128, with_num_logits_to_keep=True,
                            bos_token_id=eot, eos_token_id=eot)
    gqa_cfg = DecoderConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, intermediate_size=128, kv_dtype="float16",
                            with_position_ids=False, bos_token_id=eot, eos_token_id=eot)
    r1_cfg = DecoderConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           num_key_value_heads=2, intermediate_size=64, bos_token_id=eot, eos_token_id=eot)
    r2_cfg = DecoderConfig(vocab_size=vocab + 32, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           num_key_value_heads=1, intermediate_size=64, with_position_ids=False,
                           bos_token_id=eot, eos_token_id=eot)

    r1 = make_model(r1_cfg, 101)
    r2 = make_model(r2_cfg, 202)
    r1_alt = make_model(r1_cfg, 303)
    base = build_with_margin(mha_cfg, 1, tok, others=[[(r1, 1.0)], [(r2, 1.0)], [(r1, 1.0), (r2, 0.5)], [(r1_alt, 1.0)]])
    gqa = build_with_margin(gqa_cfg, 11, tok)

    write_model_dir(base, os.path.join(ROOT, "tiny-mha-f32"), tok_json, tok_config, gen_config)
    write_model_dir(gqa, os.path.join(ROOT, "tiny-gqa-f16"), tok_json, plain_config, None, onnx_subdir=True,
                    external_data=True)

    def manifest(name, version, description):
        return {"name": name, "version": version, "description": description, "default_weight": 1.0,
                "base": "tiny-mha-f32"}

    write_model_dir(r1, os.path.join(ROOT, "reasoners", "r1"), tok_json, tok_config, gen_config,
                    manifest=manifest("r1", "1.0.0", "random-weight fixture module, same vocabulary"))
    write_model_dir(r2, os.path.join(ROOT, "reasoners", "r2"), tok_json, tok_config, gen_config,
                    manifest=manifest("r2", "1.0.0", "random-weight fixture module, vocabulary padded by 32"))
    write_model_dir(r1_alt, os.path.join(ROOT, "reasoners-alt", "r1"), tok_json, tok_config, gen_config,
                    manifest=manifest("r1", "2.0.0", "another version of r1 with other weights"))

    # Same merges, other ids: swap two byte tokens, as a tokenizer of another model family would differ.
    bad = json.loads(json.dumps(tok_json))
    v = bad["model"]["vocab"]
    a, b = "a", "b"
    v[a], v[b] = v[b], v[a]
    write_model_dir(r1, os.path.join(ROOT, "incompatible", "bad-tokenizer"), bad, tok_config, gen_config,
                    manifest=manifest("bad-tokenizer", "1.0.0", "tokenizer maps 'a' and 'b' to swapped ids"))

    faulty = FailingDecoder(r1_cfg)
    faulty.load_state_dict(r1.state_dict())
    write_model_dir(faulty.eval(), os.path.join(ROOT, "faulty", "r-fails"), tok_json, tok_config, gen_config,
                    manifest=manifest("r-fails", "1.0.0", "loads, then fails at every run over more than 8 positions (runtime failure tests)"))

    refs = {
        "tokenizer": {"vocab_size": vocab, "specials": tok.specials,
                      "samples": [{"text": t, "ids": tok.encode(t)} for t in PROMPTS + ["<|im_start|>user\nhi<|im_end|>"]]},
        "models": {
            "tiny-mha-f32": reference([(base, 1.0)], tok),
            "tiny-gqa-f16": reference([(gqa, 1.0)], tok),
        },
        "fused": {
            "r1": reference([(base, 1.0), (r1, 1.0)], tok),
            "r2": reference([(base, 1.0), (r2, 1.0)], tok),
            "r1+r2": reference([(base, 1.0), (r1, 1.0), (r2, 0.5)], tok),
            "r1-alt": reference([(base, 1.0), (r1_alt, 1.0)], tok),
        },
        "fused_weights": {"r1": {"r1": 1.0}, "r2": {"r2": 1.0}, "r1+r2": {"r1": 1.0, "r2": 0.5}, "r1-alt": {"r1": 1.0}},
        "steps": STEPS,
    }
    with open(os.path.join(ROOT, "references.json"), "w") as f:
        json.dump(refs, f, separators=(",", ":"))
    print("fixtures written to", os.path.normpath(ROOT), "vocab", vocab)


if __name__ == "__main__":
    main()
