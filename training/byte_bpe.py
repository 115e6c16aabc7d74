"""A GPT-2 style byte-level BPE tokenizer written as a Hugging Face tokenizer.json, with a matching encoder.

The encoder here exists so the scripts can write reference token ids without the `tokenizers` package; the
server tokenizes with @huggingface/tokenizers, and the tests check that both agree. The pre-tokenizer regex is
GPT-2's; this encoder implements it for ASCII text, which is all the scripts feed it.
"""
from __future__ import annotations

import re
from collections import Counter

ASCII_GPT2_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHARS = bytes_to_unicode()


def _word_symbols(word: str) -> list[str]:
    return [BYTE_CHARS[b] for b in word.encode("utf-8")]


def train_merges(corpus: str, num_merges: int) -> list[tuple[str, str]]:
    words = Counter(ASCII_GPT2_SPLIT.findall(corpus))
    splits = {w: _word_symbols(w) for w in words}
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        pairs: Counter = Counter()
        for w, freq in words.items():
            sym = splits[w]
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += freq
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        for w in words:
            splits[w] = _apply_merge(splits[w], best)
    return merges


def _apply_merge(sym: list[str], pair: tuple[str, str]) -> list[str]:
    out, i = [], 0
    while i < len(sym):
        if i + 1 < len(sym) and (sym[i], sym[i + 1]) == pair:
            out.append(sym[i] + sym[i + 1])
            i += 2
        else:
            out.append(sym[i])
            i += 1
    return out


class ByteLevelBPE:
    def __init__(self, merges: list[tuple[str, str]], specials: list[str]):
        self.merges = merges
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.vocab: dict[str, int] = {BYTE_CHARS[b]: b for b in range(256)}
        for a, b in merges:
            self.vocab.setdefault(a + b, len(self.vocab))
        self.specials = {s: len(self.vocab) + i for i, s in enumerate(specials)}
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: s for s, i in self.specials.items()})

    @property
    def size(self) -> int:
        return len(self.vocab) + len(self.specials)

    def encode(self, text: str) -> list[int]:
        """Encodes ASCII text with special tokens written literally (as HF's added tokens are matched)."""
        ids: list[int] = []
        pattern = "(" + "|".join(re.escape(s) for s in self.specials) + ")" if self.specials else None
        parts = re.split(pattern, text) if pattern else [text]
        for part in parts:
            if part in self.specials:
                ids.append(self.specials[part])
                continue
            for word in ASCII_GPT2_SPLIT.findall(part):
                ids += [self.vocab[s] for s in self._bpe(_word_symbols(word))]
        return ids

    def _bpe(self, sym: list[str]) -> list[str]:
        while len(sym) > 1:
            ranked = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(sym, sym[1:]))]
            rank, _ = min(ranked)
            if rank == 1 << 30:
                break
            sym = _apply_merge(sym, self.merges[rank])
        return sym

    def decode(self, ids: list[int]) -> str:
        inverse = {c: b for b, c in BYTE_CHARS.items()}
        out = bytearray()
        for i in ids:
            tok = self.id_to_token[i]
            if tok in self.specials:
                out += tok.encode("utf-8")
            else:
                out += bytes(inverse[c] for c in tok)
        return out.decode("utf-8", errors="replace")

    def tokenizer_json(self) -> dict:
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True}
                for s, i in self.specials.items()
            ],
            "normalizer": None,
            "pre_tokenizer": byte_level,
            "post_processor": {**byte_level, "trim_offsets": False},
            "decoder": byte_level,
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": self.vocab,
                "merges": [f"{a} {b}" for a, b in self.merges],
            },
        }
