"""The two demo tasks (add, sort), the filler text, and the correctness rule, for train_demo.py.

Formats (every character is one token of the byte-level tokenizer; an example is prompt + completion + EOS):

  add   prompt      "add 4821+937="
        completion  " 1+7+0=8, 2+3+0=5, 8+9+0=17, 4+0+1=5, answer=5758"
        One step per digit position from the right: "<digit of a>+<digit of b>+<carry in>=<sum>", a missing
        digit is 0, steps joined by ", ", then ", answer=<a+b>".
  sort  prompt      "sort 5 3 9 1 7="
        completion  " 1 3 5 7 9"
        Distinct digits 0-9, written in ascending order, each preceded by one space.

Correctness (the same for both tasks): take prompt + completion, where the completion is the generated text up to
but not including EOS; the answer is the text after the last '=' with surrounding whitespace stripped. Correct iff
EOS was generated within MAX_NEW_TOKENS new tokens and that text equals the expected answer exactly.
"""
from __future__ import annotations

import random

MAX_NEW_TOKENS = 96

# Difficulty levels. The base sees only "easy"; the held-out sets use "hard"; modules train on "train".
ADD_EASY_DIGITS = (1, 2)      # operand lengths in the base's training data
ADD_HARD_DIGITS = (3, 5)      # operand lengths in the held-out set
ADD_TRAIN_DIGITS = (1, 5)     # operand lengths in the add module's training data
SORT_EASY_ITEMS = (2, 3)
SORT_HARD_ITEMS = (5, 8)
SORT_TRAIN_ITEMS = (2, 8)


def _number(rng: random.Random, digits: int) -> int:
    if digits == 1:
        return rng.randint(0, 9)
    return rng.randint(10 ** (digits - 1), 10 ** digits - 1)


def add_problem(rng: random.Random, digit_range: tuple[int, int], hard_bias: bool = False) -> tuple[int, int]:
    lo, hi = digit_range
    def length():
        if hard_bias:
            # Longer operands are rarer among uniform lengths but harder; favour them.
            return min(hi, max(lo, int(lo + (hi - lo + 1) * rng.random() ** 0.6)))
        return rng.randint(lo, hi)
    return _number(rng, length()), _number(rng, length())


def add_prompt(a: int, b: int) -> str:
    return f"add {a}+{b}="


def add_completion(a: int, b: int) -> str:
    da, db = str(a)[::-1], str(b)[::-1]
    steps, carry = [], 0
    for k in range(max(len(da), len(db))):
        x = int(da[k]) if k < len(da) else 0
        y = int(db[k]) if k < len(db) else 0
        s = x + y + carry
        steps.append(f"{x}+{y}+{carry}={s}")
        carry = s // 10
    return " " + ", ".join(steps) + f", answer={a + b}"


def sort_problem(rng: random.Random, item_range: tuple[int, int]) -> list[int]:
    n = rng.randint(*item_range)
    return rng.sample(range(10), n)


def sort_prompt(xs: list[int]) -> str:
    return "sort " + " ".join(map(str, xs)) + "="


def sort_completion(xs: list[int]) -> str:
    return "".join(f" {x}" for x in sorted(xs))


def sort_answer(xs: list[int]) -> str:
    return " ".join(map(str, sorted(xs)))


WORDS = {
    "det": ["the", "a", "one", "every", "that", "this"],
    "adj": ["quick", "lazy", "small", "big", "red", "green", "old", "new", "quiet", "happy", "bright", "dark"],
    "noun": ["cat", "dog", "fox", "bird", "model", "server", "river", "tree", "house", "robot", "child", "teacher",
             "garden", "city", "book", "song"],
    "verb": ["sees", "likes", "follows", "finds", "helps", "watches", "builds", "reads", "visits", "paints"],
    "ivb": ["sleeps", "runs", "sings", "waits", "rests", "thinks", "smiles", "works"],
    "adv": ["slowly", "today", "again", "quietly", "at night", "in the morning", "near the river", "with care"],
}


def filler_text(rng: random.Random) -> str:
    def np_():
        w = rng.choice(WORDS["det"])
        if rng.random() < 0.5:
            w += " " + rng.choice(WORDS["adj"])
        return w + " " + rng.choice(WORDS["noun"])

    sentences = []
    for _ in range(rng.randint(1, 2)):
        if rng.random() < 0.5:
            s = f"{np_()} {rng.choice(WORDS['verb'])} {np_()}"
        else:
            s = f"{np_()} {rng.choice(WORDS['ivb'])}"
        if rng.random() < 0.25:
            s += " " + rng.choice(WORDS["adv"])
        sentences.append(s + ".")
    return " ".join(sentences)


def extract_answer(prompt: str, completion: str) -> str:
    text = prompt + completion
    return text[text.rfind("=") + 1:].strip() if "=" in text else text.strip()


def is_correct(prompt: str, completion: str, ended_with_eos: bool, answer: str) -> bool:
    return ended_with_eos and extract_answer(prompt, completion) == answer
