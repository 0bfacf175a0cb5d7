"""Structured output from LLMs: a label from a fixed set, or a JSON object.

On engines that can constrain decoding (llama.cpp) a GBNF grammar or a JSON
schema makes an invalid reply impossible (up to ``max_new_tokens`` cutting a
JSON object short). Elsewhere the reply is parsed leniently, and a reply that
does not parse is retried a bounded number of times — first with a reminder of
the expected format, then sampling — before a ``ModelError``. ``parse_label`` and
``parse_json`` are the validators the benchmark uses to count parse failures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heron.errors import ModelError
from heron.tasks.engines import Engine
from heron.tasks.options import TaskOptions
from heron.tasks.prompting import retry_reminder
from heron.types import Message

LABEL_TOKENS = 12
JSON_TOKENS = 160
_EDGE = re.compile(r"^[\s\"'`*.:;,!()\[\]-]+|[\s\"'`*.:;,!()\[\]-]+$")


@dataclass(frozen=True)
class Parsed:
    """A parsed reply (``value``) and how many generations it took."""

    value: Any
    attempts: int
    raw: str


def _norm(text: str) -> str:
    return " ".join(_EDGE.sub("", text).casefold().split())


def parse_label(reply: str, labels: Sequence[str]) -> str | None:
    """The label a reply names, or None.

    Accepts the label alone (any case, quotes, trailing period) or a reply in which
    exactly one label occurs as a whole word ("The sentiment is negative").
    """
    text = _norm(reply)
    by_norm = {_norm(label): label for label in labels}
    if text in by_norm:
        return by_norm[text]
    found = [key for key in by_norm if re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text)]
    # "world news" also contains the label "news": keep only the longest of nested matches
    found = [key for key in found if not any(key != other and key in other for other in found)]
    return by_norm[found[0]] if len(found) == 1 else None


def _gbnf_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def label_grammar(labels: Sequence[str]) -> str:
    """A GBNF grammar whose only sentences are the labels."""
    return "root ::= " + " | ".join(_gbnf_string(label) for label in labels)


def parse_json(reply: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first JSON object in ``reply`` if it has the schema's required keys, else None.

    Values are coerced to the declared simple types where that is lossless
    (``"3"`` → 3 for an integer field); extra keys are dropped.
    """
    start = reply.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(reply[start:])
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = list(schema.get("required", list(properties)))
    if any(key not in value for key in required):
        return None
    out: dict[str, Any] = {}
    for key, spec in properties.items():
        if key in value:
            coerced = _coerce(value[key], spec)
            if coerced is _INVALID:
                return None
            out[key] = coerced
    return out


_INVALID = object()


def _coerce(value: Any, spec: Mapping[str, Any]) -> Any:
    if "enum" in spec:
        return value if value in spec["enum"] else _INVALID
    kind = spec.get("type")
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value) if value is not None else ""
    if kind in ("number", "integer"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return _INVALID
        if kind == "integer":
            return int(number) if number.is_integer() else _INVALID
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        return {"true": True, "false": False}.get(lowered, _INVALID)
    return value


def _retry_options(options: TaskOptions, attempt: int) -> TaskOptions:
    """Attempt 1 repeats the settings (with a reminder); later ones sample."""
    if attempt < 2:
        return options
    seed = None if options.seed is None else options.seed + attempt
    return options.model_copy(update={"do_sample": True, "temperature": 0.7, "seed": seed})


def generate_label(
    engine: Engine,
    prompt: Sequence[Message],
    labels: Sequence[str],
    options: TaskOptions,
    *,
    constrain: bool = True,
    retries: int = 2,
) -> Parsed:
    """A label from ``labels``: grammar-constrained if the engine can, else parse and retry."""
    budget = max(LABEL_TOKENS, max(engine.count_tokens(label) for label in labels) + 4)
    if constrain and engine.can_constrain:
        reply = engine.complete_grammar(prompt, label_grammar(labels), options, budget).text
        label = parse_label(reply, labels)
        if label is None:  # cannot happen with a grammar; kept as a guard
            raise ModelError(f"{engine.name} returned {reply!r} under a label grammar")
        return Parsed(label, 1, reply)
    what = f"exactly one of: {', '.join(labels)}"
    return _retry(engine, prompt, options, budget, retries, what, lambda r: parse_label(r, labels))


def generate_json(
    engine: Engine,
    prompt: Sequence[Message],
    schema: Mapping[str, Any],
    options: TaskOptions,
    *,
    constrain: bool = True,
    retries: int = 2,
) -> Parsed:
    """A JSON object matching ``schema``: schema-constrained if the engine can, else retried."""
    budget = JSON_TOKENS
    if constrain and engine.can_constrain:
        reply = engine.complete_json(prompt, schema, options, budget).text
        data = parse_json(reply, schema)
        if data is None:
            raise ModelError(
                f"{engine.name} produced an incomplete JSON object: {reply[:120]!r}",
                hint="raise max_new_tokens so the object can be closed",
            )
        return Parsed(data, 1, reply)
    what = "a JSON object with the keys " + ", ".join(schema.get("properties", {}))
    return _retry(engine, prompt, options, budget, retries, what, lambda r: parse_json(r, schema))


def _retry(
    engine: Engine,
    prompt: Sequence[Message],
    options: TaskOptions,
    budget: int,
    retries: int,
    what: str,
    parse: Any,
) -> Parsed:
    messages = list(prompt)
    replies: list[str] = []
    for attempt in range(retries + 1):
        turn = messages
        if attempt:
            turn = [*messages, Message("assistant", replies[-1]), retry_reminder(what)]
        reply = engine.complete([turn], _retry_options(options, attempt), budget)[0].text
        replies.append(reply)
        value = parse(reply)
        if value is not None:
            return Parsed(value, attempt + 1, reply)
    raise ModelError(
        f"{engine.name} did not reply with {what} in {retries + 1} attempts "
        f"(last reply: {replies[-1][:120]!r})",
        hint="use a llama.cpp model (gguf: or bundled:) for constrained decoding, "
        "a larger model, or raise retries",
    )
