"""Builds tests/fixtures/bigram/: a base and a module whose logits are a hand-written table of the last token.

  /usr/bin/python3 training/make_bigram_fixture.py      (deterministic; a second)

Both are real decoder exports (the signature of every other fixture, KV cache included) whose layers are zeroed:
attention and MLP add nothing to the residual stream, so the logits of a position depend on its token t alone.
The embedding of t is sqrt(H) * e_(t mod H), RMSNorm maps it to (almost: eps = 1e-6 scales it by 1 - 5e-7) the same
vector, and lm_head column k holds table[k] / sqrt(H): logits(next | last token t) = table[t mod H]. Tests then
compute expected attribution, logprobs and entropies by hand from the tables below (tests/e2e/attribution.test.ts).
The tokenizer is the other fixtures' (make_fixtures.py), so ids 97.. are the bytes 'a'..; unlisted logits are 0.
"""
from __future__ import annotations

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_fixtures as F  # noqa: E402
from byte_bpe import ByteLevelBPE, train_merges  # noqa: E402
from unir_model import Decoder, DecoderConfig, write_model_dir  # noqa: E402

H = 8
# Keyed by (last token id) mod 8; values: {next token id: logit}.
BASE_TABLE = {
    0: {304: 2.0},           # after 'h' (104): <|endoftext|> (304) 2
    1: {98: 3.0, 99: 2.0},   # after 'a' (97): 'b' 3, 'c' 2
    2: {100: 1.0},           # after 'b' (98): 'd' 1
    3: {101: 1.5},           # after 'c' (99): 'e' 1.5
    4: {104: 1.0},           # after 'd' (100): 'h' 1
    5: {103: 1.0},           # after 'e' (101): 'g' 1
}
MODULE_TABLE = {
    1: {98: -1.0, 99: 2.0},  # after 'a': pushes 'c' over 'b'
    2: {100: 1.0},
    3: {101: 0.5, 102: 1.0},  # after 'c': 'e' +0.5, 'f' +1
}


def bigram_model(vocab: int, table: dict, eot: int) -> Decoder:
    cfg = DecoderConfig(vocab_size=vocab, hidden_size=H, num_hidden_layers=1, num_attention_heads=2,
                        num_key_value_heads=2, intermediate_size=8, with_num_logits_to_keep=True,
                        bos_token_id=eot, eos_token_id=eot)
    model = Decoder(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.norm.weight.fill_(1.0)
        for layer in model.layers:
            layer.input_layernorm.weight.fill_(1.0)
            layer.post_attention_layernorm.weight.fill_(1.0)
        for t in range(vocab):
            model.embed_tokens.weight[t, t % H] = math.sqrt(H)
        for k, row in table.items():
            for token, logit in row.items():
                model.lm_head.weight[token, k] = logit / math.sqrt(H)
    return model.eval()


def main() -> None:
    tok = ByteLevelBPE(train_merges(F.CORPUS, 48), F.SPECIALS)
    eot = tok.specials["<|endoftext|>"]
    assert [tok.encode(c)[0] for c in "abcdefgh"] == list(range(97, 105)), "byte tokens are not their byte values"
    tok_config = {"bos_token": None, "eos_token": "<|endoftext|>", "model_max_length": 512, "chat_template": F.CHATML,
                  "tokenizer_class": "PreTrainedTokenizerFast"}
    root = os.path.join(F.ROOT, "bigram")
    write_model_dir(bigram_model(tok.size, BASE_TABLE, eot), os.path.join(root, "base"), tok.tokenizer_json(), tok_config,
                    {"eos_token_id": eot})
    write_model_dir(bigram_model(tok.size, MODULE_TABLE, eot), os.path.join(root, "reasoners", "nudge"), tok.tokenizer_json(),
                    tok_config, {"eos_token_id": eot},
                    manifest={"name": "nudge", "version": "1.0.0", "default_weight": 1.0, "base": "bigram",
                              "description": "bigram fixture module: hand-written logits of the last token"})
    print("bigram fixture written to", os.path.normpath(root), "vocab", tok.size)


if __name__ == "__main__":
    main()
