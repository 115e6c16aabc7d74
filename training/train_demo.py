"""Trains the unir-serve demo models (a frozen base LM and two UniR reasoning modules) and exports them.

  /usr/bin/python3 training/train_demo.py          (seeded; ~15 min on an idle 2-core CPU, more when shared)

Writes demo-models/:
  base/                 the base LM (knows the task formats only at an easy level, plus filler text)
  reasoners/add/        module for step-by-step multi-digit addition
  reasoners/sort/       module for sorting lists of digits
  eval/{add,sort,mixed}.jsonl, eval/python-eval.json, eval/README.md

Modules are trained with the base frozen in the loop: cross-entropy on the fused logits base + module on their
own task's completions, and a neutrality penalty (the module's logits, centred per position, pushed towards 0)
on the other task and on filler text, so that modules compose by adding logits.

Training runs matmuls in bfloat16 under CPU autocast (this PyTorch build has only a reference BLAS for float32,
while bfloat16 goes through oneDNN); evaluation and export are float32. Environment overrides for experiments:
BASE_STEPS, ADD_STEPS, SORT_STEPS, EVAL_N, OUT
(and BASE_CKPT, a path to cache the trained base between development runs).
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import demo_tasks as T  # noqa: E402
from byte_bpe import ByteLevelBPE  # noqa: E402
from unir_model import Decoder, DecoderConfig, dump_json, fused_greedy, write_model_dir  # noqa: E402

OUT = os.environ.get("OUT", os.path.join(HERE, "..", "demo-models"))
SEED = 1234
BASE_STEPS = int(os.environ.get("BASE_STEPS", 600))
MOD_STEPS = {"add": int(os.environ.get("ADD_STEPS", 1200)), "sort": int(os.environ.get("SORT_STEPS", 500))}
EVAL_N = int(os.environ.get("EVAL_N", 200))
BATCH = 64
NEUTRAL_WEIGHT = 1.0

TOK = ByteLevelBPE(merges=[], specials=["<|endoftext|>"])
EOS = TOK.specials["<|endoftext|>"]
VOCAB = TOK.size
T0 = time.time()


def log(*args):
    print(f"[{time.time() - T0:7.1f}s]", *args, flush=True)


def encode(text: str) -> list[int]:
    # No merges: every byte is one token whose id is the byte value (checked against the tokenizer in main()).
    return list(text.encode("utf-8"))


def decode(ids: list[int]) -> str:
    return TOK.decode(ids)


# ----------------------------------------------------------------------------------------------------- models

def base_config() -> DecoderConfig:
    return DecoderConfig(vocab_size=VOCAB, hidden_size=256, num_hidden_layers=4, num_attention_heads=8,
                         num_key_value_heads=4, intermediate_size=768, max_position_embeddings=2048,
                         kv_dtype="float32", with_position_ids=True, with_num_logits_to_keep=True,
                         bos_token_id=None, eos_token_id=EOS)


def module_config() -> DecoderConfig:
    return DecoderConfig(vocab_size=VOCAB, hidden_size=192, num_hidden_layers=3, num_attention_heads=6,
                         num_key_value_heads=6, intermediate_size=512, max_position_embeddings=2048,
                         kv_dtype="float32", with_position_ids=True, with_num_logits_to_keep=True,
                         bos_token_id=None, eos_token_id=EOS)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def forward_full(model: Decoder, ids: torch.Tensor) -> torch.Tensor:
    b, s = ids.shape
    mask = torch.ones(b, s, dtype=torch.long)
    pos = torch.arange(s)[None].expand(b, s)
    logits, _ = model(ids, mask, pos, model.empty_past(b))
    return logits


@contextmanager
def fp32_conv_linear():
    """float32 nn.Linear through a 1x1 convolution (oneDNN), ~10x faster than this build's reference BLAS."""
    orig = nn.Linear.forward

    def fwd(self, x):
        shp = x.shape
        y = F.conv1d(x.reshape(-1, shp[-1]).t().unsqueeze(0), self.weight.unsqueeze(-1), self.bias)
        return y.squeeze(0).t().reshape(*shp[:-1], self.out_features)

    nn.Linear.forward = fwd
    try:
        yield
    finally:
        nn.Linear.forward = orig


# ------------------------------------------------------------------------------------------------------ data

def add_example(rng, digits, hard_bias=False):
    a, b = T.add_problem(rng, digits, hard_bias)
    return encode(T.add_prompt(a, b)), encode(T.add_completion(a, b)) + [EOS]


def sort_example(rng, items):
    xs = T.sort_problem(rng, items)
    return encode(T.sort_prompt(xs)), encode(T.sort_completion(xs)) + [EOS]


def filler_example(rng):
    return [], encode(T.filler_text(rng)) + [EOS]


def collate(examples, loss_on_prompt: bool):
    """examples: (prompt_ids, completion_ids). Returns inputs [B,L], targets [B,L], loss mask [B,L]."""
    seqs = [p + c for p, c in examples]
    length = -(-(max(len(s) for s in seqs) - 1) // 8) * 8  # multiples of 8: fewer oneDNN primitive shapes
    inp = torch.full((len(seqs), length), EOS, dtype=torch.long)
    tgt = torch.full((len(seqs), length), EOS, dtype=torch.long)
    msk = torch.zeros(len(seqs), length)
    for i, ((p, c), s) in enumerate(zip(examples, seqs)):
        n = len(s) - 1
        inp[i, :n] = torch.tensor(s[:-1])
        tgt[i, :n] = torch.tensor(s[1:])
        start = 0 if loss_on_prompt else max(len(p) - 1, 0)
        msk[i, start:n] = 1.0
    return inp, tgt, msk


def lr_at(step, total, peak, warmup=50):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def masked_ce(logits, tgt, msk):
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
    return (ce * msk.reshape(-1)).sum() / msk.sum().clamp(min=1)


# ------------------------------------------------------------------------------------------------------- eval

@torch.no_grad()
def greedy_batch(models_weights, prompts: list[list[int]], max_new: int = T.MAX_NEW_TOKENS, chunk: int = 256):
    """Greedy decoding on z = sum_i w_i z_i, each model with its own KV cache, stopping at EOS. Prompts are
    left-padded (attention_mask 0, positions counted from the first real token) and decoded as one batch.
    Returns [(completion ids without EOS, ended_with_eos)] in prompt order."""
    results = []
    for c in range(0, len(prompts), chunk):
        batch = prompts[c:c + chunk]
        b, width = len(batch), max(len(p) for p in batch)
        ids = torch.full((b, width), EOS, dtype=torch.long)
        mask = torch.zeros(b, width, dtype=torch.long)
        for r, p in enumerate(batch):
            ids[r, width - len(p):] = torch.tensor(p)
            mask[r, width - len(p):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        pasts = [m.empty_past(b) for m, _ in models_weights]
        out = [[] for _ in range(b)]
        done = torch.zeros(b, dtype=torch.bool)
        for _ in range(max_new):
            fused = torch.zeros(b, VOCAB)
            for j, (m, w) in enumerate(models_weights):
                logits, pasts[j] = m(ids, mask, pos, pasts[j], 1)
                fused += w * logits[:, -1, :VOCAB]
            nxt = fused.argmax(-1)
            for r in range(b):
                if not done[r]:
                    out[r].append(int(nxt[r]))
            done |= nxt == EOS
            if bool(done.all()):
                break
            ids = nxt[:, None]
            pos = pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones(b, 1, dtype=torch.long)], dim=1)
        for toks in out:
            ended = EOS in toks
            results.append((toks[:toks.index(EOS)] if ended else toks, ended))
    return results


def accuracy(models_weights, problems) -> float:
    res = greedy_batch(models_weights, [encode(p["prompt"]) for p in problems])
    ok = sum(T.is_correct(p["prompt"], decode(toks), ended, p["answer"]) for p, (toks, ended) in zip(problems, res))
    return ok / len(problems)


def make_eval_sets(n: int):
    rng = random.Random(SEED + 7)
    seen = set()

    def add_items(k):
        out = []
        while len(out) < k:
            a, b = T.add_problem(rng, T.ADD_HARD_DIGITS)
            p = T.add_prompt(a, b)
            if p not in seen:
                seen.add(p)
                out.append({"task": "add", "prompt": p, "answer": str(a + b)})
        return out

    def sort_items(k):
        out = []
        while len(out) < k:
            xs = T.sort_problem(rng, T.SORT_HARD_ITEMS)
            p = T.sort_prompt(xs)
            if p not in seen:
                seen.add(p)
                out.append({"task": "sort", "prompt": p, "answer": T.sort_answer(xs)})
        return out

    sets = {"add": add_items(n), "sort": sort_items(n)}
    mixed = add_items(n // 2) + sort_items(n - n // 2)
    rng.shuffle(mixed)
    sets["mixed"] = mixed
    # Easy problems of the base's own training level, to show it knows the formats.
    easy = []
    for _ in range(n // 2):
        a, b = T.add_problem(rng, T.ADD_EASY_DIGITS)
        easy.append({"task": "add", "prompt": T.add_prompt(a, b), "answer": str(a + b)})
        xs = T.sort_problem(rng, T.SORT_EASY_ITEMS)
        easy.append({"task": "sort", "prompt": T.sort_prompt(xs), "answer": T.sort_answer(xs)})
    return sets, easy, seen


# ------------------------------------------------------------------------------------------------------ train

def train_base(cfg: DecoderConfig | None = None, steps: int = BASE_STEPS) -> Decoder:
    """The base's recipe (seeded data and initialisation); train_base_large.py reuses it with a larger config."""
    torch.manual_seed(SEED)
    rng = random.Random(SEED + 1)
    model = Decoder(cfg or base_config())
    log(f"base: {n_params(model):,} params; {steps} steps of {BATCH}")
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.98), weight_decay=0.05)
    model.train()
    t = time.time()
    for step in range(steps):
        batch = []
        while len(batch) < BATCH:
            r = rng.random()
            if r < 0.4:
                ex = add_example(rng, T.ADD_EASY_DIGITS)
            elif r < 0.7:
                ex = sort_example(rng, T.SORT_EASY_ITEMS)
            else:
                ex = filler_example(rng)
            batch.append(ex)
        inp, tgt, msk = collate(batch, loss_on_prompt=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, 2e-3)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = forward_full(model, inp)
        loss = masked_ce(logits.float(), tgt, msk)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"base step {step:4d} loss {loss.item():.4f} ({(time.time() - t) / (step + 1):.2f}s/step)")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def train_module(name: str, base: Decoder, held_out: set, seed: int) -> Decoder:
    torch.manual_seed(seed)
    rng = random.Random(seed + 1)
    module = Decoder(module_config())
    with torch.no_grad():
        module.lm_head.weight.zero_()  # start neutral: fused == base
    steps = MOD_STEPS[name]
    log(f"module {name}: {n_params(module):,} params; {steps} steps")
    opt = torch.optim.AdamW(module.parameters(), lr=2e-3, betas=(0.9, 0.98), weight_decay=0.01)
    module.train()
    n_own, n_off = 48, 16
    t = time.time()
    for step in range(steps):
        own = []
        while len(own) < n_own:
            if name == "add":
                ex = add_example(rng, T.ADD_TRAIN_DIGITS, hard_bias=True)
            else:
                ex = sort_example(rng, T.SORT_TRAIN_ITEMS)
            if decode(ex[0]) not in held_out:
                own.append(ex)
        off = []
        while len(off) < n_off:
            r = rng.random()
            if r < 0.35:
                off.append(filler_example(rng))
            elif name == "add":
                off.append(sort_example(rng, T.SORT_TRAIN_ITEMS))
            else:
                off.append(add_example(rng, T.ADD_TRAIN_DIGITS))
        inp, tgt, msk = collate(own, loss_on_prompt=False)
        oinp, _, omsk = collate(off, loss_on_prompt=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, 2e-3)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            with torch.no_grad():
                zb = forward_full(base, inp)
            zm = forward_full(module, inp)
            zo = forward_full(module, oinp)
        fused = zb.float() + zm.float()
        loss_task = masked_ce(fused, tgt, msk)
        zo = zo.float()
        centred = (zo - zo.mean(-1, keepdim=True)).pow(2).mean(-1)
        loss_neutral = (centred * omsk).sum() / omsk.sum()
        loss = loss_task + NEUTRAL_WEIGHT * loss_neutral
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"{name} step {step:4d} task {loss_task.item():.4f} neutral {loss_neutral.item():.5f} "
                f"({(time.time() - t) / (step + 1):.2f}s/step)")
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# ------------------------------------------------------------------------------------------------------- main

def write_eval_readme(path, table, easy_acc, elapsed):
    rows = ["| models | add | sort | mixed |", "|---|---|---|---|"]
    for k, v in table.items():
        rows.append(f"| {k} | {v['add'] * 100:.1f}% | {v['sort'] * 100:.1f}% | {v['mixed'] * 100:.1f}% |")
    text = f"""# unir-serve demo evaluation sets

Held-out problems for the demo models (`demo-models/base` and the modules `reasoners/add`, `reasoners/sort`),
one JSON object per line: `{{"task": "add"|"sort", "prompt": "...", "answer": "..."}}`.

- `add.jsonl`: {EVAL_N} additions, each operand {T.ADD_HARD_DIGITS[0]}-{T.ADD_HARD_DIGITS[1]} digits (the base was trained on {T.ADD_EASY_DIGITS[0]}-{T.ADD_EASY_DIGITS[1]} digits only).
- `sort.jsonl`: {EVAL_N} lists of {T.SORT_HARD_ITEMS[0]}-{T.SORT_HARD_ITEMS[1]} distinct digits (the base saw {T.SORT_EASY_ITEMS[0]}-{T.SORT_EASY_ITEMS[1]} items only).
- `mixed.jsonl`: {EVAL_N // 2} add + {EVAL_N - EVAL_N // 2} sort problems (not in the other two files), shuffled.

## Formats (byte-level tokenizer: one token per character; EOS is `<|endoftext|>`, id {EOS})

    add   prompt      add 4821+937=
          completion   1+7+0=8, 2+3+0=5, 8+9+0=17, 4+0+1=5, answer=5758<|endoftext|>
    sort  prompt      sort 5 3 9 1 7=
          completion   1 3 5 7 9<|endoftext|>

The add completion has one step per digit position from the right, `<digit of a>+<digit of b>+<carry in>=<sum>`
(a missing digit is 0), steps joined by `, `, then `, answer=<a+b>`. The sort completion lists the digits in
ascending order, each preceded by one space. The prompt is sent as raw text (no chat template; the template only
concatenates message contents, so a chat request whose single user message is the prompt is the same).

## Correctness rule

Greedy decoding (temperature 0) of at most {T.MAX_NEW_TOKENS} new tokens, stopping at EOS. Let `completion` be the
generated text without the EOS. The example is correct iff EOS was generated within the {T.MAX_NEW_TOKENS} tokens and
`(prompt + completion)` after its last `=`, with leading/trailing whitespace stripped, equals `answer` exactly.
(For add that is the text after `answer=`; for sort the prompt's `=` is the last one, so it is the whole
completion stripped.)

## Accuracy measured in Python (float32, greedy, fused logits z = z_base + sum w_i z_i with w_i = 1)

Command: `/usr/bin/python3 training/train_demo.py` (seeded; it trains, exports and evaluates; took {elapsed / 60:.1f} min).
"module alone" decodes on the module's own logits without the base.

{chr(10).join(rows)}

Base alone on problems of its own (easy) training level: {easy_acc * 100:.1f}%.
The same table is in `python-eval.json`.
"""
    with open(path, "w") as f:
        f.write(text)


def main() -> None:
    torch.set_num_threads(2)
    random.seed(SEED)
    torch.manual_seed(SEED)
    for s in ["add 4821+937= 1+7+0=8, answer=5758<|endoftext|>", "sort 5 3 9 1 7= 1 3 5 7 9", "the cat."]:
        assert TOK.encode(s) == encode(s.replace("<|endoftext|>", "")) + ([EOS] if "<|endoftext|>" in s else []), s
    sets, easy, held_out = make_eval_sets(EVAL_N)
    log(f"vocab {VOCAB}, eos {EOS}; eval sets: " + ", ".join(f"{k} {len(v)}" for k, v in sets.items()))
    log("example:", T.add_prompt(4821, 937) + T.add_completion(4821, 937), "|", T.sort_prompt([5, 3, 9, 1, 7]) +
        T.sort_completion([5, 3, 9, 1, 7]))

    ckpt = os.environ.get("BASE_CKPT")  # development only: reuse a trained base
    if ckpt and os.path.exists(ckpt):
        base = Decoder(base_config())
        base.load_state_dict(torch.load(ckpt))
        base.eval().requires_grad_(False)
        log(f"base loaded from {ckpt}")
    else:
        base = train_base()
        if ckpt:
            torch.save(base.state_dict(), ckpt)
    add = train_module("add", base, held_out, SEED + 100)
    sort = train_module("sort", base, held_out, SEED + 200)

    log("evaluating (float32)")
    combos = {
        "base": [(base, 1.0)],
        "add module alone": [(add, 1.0)],
        "sort module alone": [(sort, 1.0)],
        "base + add": [(base, 1.0), (add, 1.0)],
        "base + sort": [(base, 1.0), (sort, 1.0)],
        "base + add + sort": [(base, 1.0), (add, 1.0), (sort, 1.0)],
    }
    table = {}
    with fp32_conv_linear():
        easy_acc = accuracy([(base, 1.0)], easy)
        log(f"base on easy (training-level) problems: {easy_acc * 100:.1f}%")
        for name, mw in combos.items():
            table[name] = {k: accuracy(mw, v) for k, v in sets.items()}
            log(f"{name:20s} " + "  ".join(f"{k} {v * 100:5.1f}%" for k, v in table[name].items()))
        # Show a few decodes.
        for p in [sets["add"][0], sets["sort"][0]]:
            for name in ["base", "base + add + sort"]:
                toks, ended = greedy_batch(combos[name], [encode(p["prompt"])])[0]
                log(f"  {name}: {p['prompt']!r} -> {decode(toks)!r}{' <eos>' if ended else ''}")
    # Batched, left-padded float32 decoding (conv linear) agrees with unir_model's reference decoder.
    sample = [encode(p["prompt"]) for p in sets["mixed"][:4]]
    with fp32_conv_linear():
        got = greedy_batch(combos["base + add + sort"], sample, 24)
    for p, (toks, ended) in zip(sample, got):
        ref, _ = fused_greedy(combos["base + add + sort"], p, len(toks) + int(ended))
        assert ref == toks + ([EOS] if ended else []), (decode(p), ref, toks)
    log("batched decoding matches unir_model.fused_greedy on 4 mixed prompts")

    log("exporting")
    tok_json = TOK.tokenizer_json()
    tok_config = {"eos_token": "<|endoftext|>", "bos_token": None, "model_max_length": 2048,
                  "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
                  "tokenizer_class": "PreTrainedTokenizerFast"}
    gen_config = {"eos_token_id": EOS}
    write_model_dir(base, os.path.join(OUT, "base"), tok_json, tok_config, gen_config)
    manifests = {
        "add": "UniR reasoning module for multi-digit addition written out step by step (prompt 'add 4821+937=').",
        "sort": "UniR reasoning module for sorting a list of distinct digits (prompt 'sort 5 3 9 1 7=').",
    }
    for name, m in [("add", add), ("sort", sort)]:
        write_model_dir(m, os.path.join(OUT, "reasoners", name), tok_json, tok_config, gen_config,
                        manifest={"name": name, "version": "1.0.0", "description": manifests[name],
                                  "default_weight": 1.0, "base": "unir-demo-base"})
    eval_dir = os.path.join(OUT, "eval")
    os.makedirs(eval_dir, exist_ok=True)
    for k, v in sets.items():
        with open(os.path.join(eval_dir, f"{k}.jsonl"), "w") as f:
            for item in v:
                f.write(json.dumps(item) + "\n")
    elapsed = time.time() - T0
    sizes = {k: {"params": n_params(m), "onnx_bytes": os.path.getsize(os.path.join(OUT, d, "model.onnx"))}
             for k, m, d in [("base", base, "base"), ("add", add, "reasoners/add"), ("sort", sort, "reasoners/sort")]}
    dump_json(os.path.join(eval_dir, "python-eval.json"), {
        "command": "/usr/bin/python3 training/train_demo.py",
        "decoding": f"greedy, float32, fused logits with weight 1 each, at most {T.MAX_NEW_TOKENS} new tokens, stop at EOS",
        "rule": "correct iff EOS generated and (prompt + completion) after its last '=', stripped, equals answer",
        "accuracy": {k: {s: round(a, 4) for s, a in v.items()} for k, v in table.items()},
        "base_on_easy_training_level": round(easy_acc, 4),
        "models": sizes,
        "seconds": round(elapsed, 1),
    })
    write_eval_readme(os.path.join(eval_dir, "README.md"), table, easy_acc, elapsed)
    for k, v in sizes.items():
        log(f"{k}: {v['params']:,} params, {v['onnx_bytes'] / 1e6:.1f} MB")
    log(f"done in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
