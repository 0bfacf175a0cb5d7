"""Constrained output: JSON Schema -> GBNF, schema checks, and parsing model replies.

llama.cpp backends accept a GBNF grammar (``generate(..., grammar=...)``) and then
can only produce text the grammar allows, which is what makes a 135M model emit
valid tool calls. ``schema_to_gbnf`` covers the JSON Schema subset that typed
Python signatures produce: object (every property present, in order), string
(``maxLength`` bounds it, so a reply always closes within ``max_tokens``), integer,
number, boolean, null, ``enum``/``const``, array (``maxItems``) and ``anyOf``.
The JSON it allows is ``json.dumps``-shaped: ``", "`` and ``": "`` separators, no
other whitespace.

Backends without grammars (transformers, OpenAI-compatible servers, the scripted
fake) get the same prompt unconstrained; ``parse_json_reply`` then finds the
first JSON value in the text and ``schema_errors`` says what is wrong with it, so
the caller can feed the problem back to the model.
Left out: ``pattern``, ``format``, ``$ref``, optional object properties.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from heron.errors import InputError

Schema = Mapping[str, Any]

#: strings without maxLength are capped at this many characters in a grammar
DEFAULT_MAX_LENGTH = 200
#: arrays without maxItems are capped at this many items in a grammar
DEFAULT_MAX_ITEMS = 8

_CHAR = r'[^"\\\x00-\x1f] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
_INTEGER = '"-"? ("0" | [1-9] [0-9]{0,15})'
_NUMBER = f'{_INTEGER} ("." [0-9]{{1,8}})?'


def supports_grammar(llm: Any) -> bool:
    """Whether ``llm.generate`` takes a ``grammar=`` keyword (llama.cpp backends do).

    An ``accepts_grammar`` attribute, where a model has one, decides (test fakes).
    """
    flag = getattr(llm, "accepts_grammar", None)
    if isinstance(flag, bool):
        return flag
    try:
        parameters = inspect.signature(llm.generate).parameters
    except (TypeError, ValueError):
        return False
    return "grammar" in parameters


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


class _Rules:
    """Accumulates named GBNF rules, reusing a rule whose body was seen before."""

    def __init__(self) -> None:
        self.rules: dict[str, str] = {"char": _CHAR}
        self._names: dict[str, str] = {_CHAR: "char"}

    def add(self, hint: str, body: str) -> str:
        if body in self._names:
            return self._names[body]
        base = re.sub(r"[^a-zA-Z0-9]+", "-", hint).strip("-").lower() or "r"
        name, n = base, 1
        while name in self.rules or name == "root":
            n += 1
            name = f"{base}-{n}"
        self.rules[name] = body
        self._names[body] = name
        return name


def schema_to_gbnf(schema: Schema) -> str:
    """A GBNF grammar (start rule ``root``) for JSON values matching ``schema``."""
    rules = _Rules()
    root = _value(schema, rules, "value")
    lines = [f"root ::= {root}"] + [f"{name} ::= {body}" for name, body in rules.rules.items()]
    return "\n".join(lines) + "\n"


def label_grammar(labels: Sequence[str]) -> str:
    """A grammar whose only sentences are the labels themselves (no quotes)."""
    if not labels:
        raise InputError("a label choice needs at least one label", hint="e.g. ['yes', 'no']")
    return "root ::= " + " | ".join(gbnf_literal(label) for label in labels) + "\n"


def _value(schema: Schema, rules: _Rules, hint: str) -> str:  # noqa: C901 - one branch per type
    if "const" in schema:
        return gbnf_literal(json.dumps(schema["const"]))
    if "enum" in schema:
        return "(" + " | ".join(gbnf_literal(json.dumps(v)) for v in schema["enum"]) + ")"
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        names = [
            rules.add(f"{hint}-{i}", _value(s, rules, f"{hint}-{i}"))
            for i, s in enumerate(alternatives)
        ]
        return "(" + " | ".join(names) + ")"
    kind = schema.get("type")
    if isinstance(kind, list):
        return "(" + " | ".join(_value({**schema, "type": k}, rules, hint) for k in kind) + ")"
    if kind == "string":
        low = int(schema.get("minLength", 0))
        high = int(schema.get("maxLength", DEFAULT_MAX_LENGTH))
        return rules.add(f"string-{low}-{high}", f'"\\"" char{{{low},{high}}} "\\""')
    if kind == "integer":
        return rules.add("integer", _INTEGER)
    if kind == "number":
        return rules.add("number", _NUMBER)
    if kind == "boolean":
        return '("true" | "false")'
    if kind == "null":
        return '"null"'
    if kind == "array":
        return _array(schema, rules, hint)
    if kind == "object":
        return _object(schema, rules, hint)
    raise InputError(
        f"cannot build a grammar for schema {json.dumps(dict(schema))[:120]}",
        hint="use object, string, integer, number, boolean, array, enum, const or anyOf",
    )


def _array(schema: Schema, rules: _Rules, hint: str) -> str:
    item = rules.add(f"{hint}-item", _value(schema.get("items", {"type": "string"}), rules, hint))
    low = int(schema.get("minItems", 0))
    high = max(low, int(schema.get("maxItems", DEFAULT_MAX_ITEMS)))
    if high == 0:
        return '"[]"'
    rest = f'("," " " {item}){{{max(low - 1, 0)},{high - 1}}}'
    body = f'"[" {item} {rest} "]"'
    return body if low > 0 else f'("[]" | {body})'


def _object(schema: Schema, rules: _Rules, hint: str) -> str:
    properties: Mapping[str, Schema] = schema.get("properties", {})
    if not properties:
        return '"{}"'
    parts = []
    for i, (key, sub) in enumerate(properties.items()):
        prefix = ("{" if i == 0 else ", ") + json.dumps(key) + ": "
        name = rules.add(f"{hint}-{key}", _value(sub, rules, f"{hint}-{key}"))
        parts.append(f"{gbnf_literal(prefix)} {name}")
    return " ".join(parts) + ' "}"'


def max_json_chars(schema: Schema) -> int:  # noqa: PLR0911 - one return per type
    """The most characters a grammar-constrained value of ``schema`` can take."""
    if "const" in schema:
        return len(json.dumps(schema["const"]))
    if "enum" in schema:
        return max(len(json.dumps(v)) for v in schema["enum"])
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return max(max_json_chars(s) for s in alternatives)
    kind = schema.get("type")
    if isinstance(kind, list):
        return max(max_json_chars({**schema, "type": k}) for k in kind)
    if kind == "string":
        return int(schema.get("maxLength", DEFAULT_MAX_LENGTH)) + 2
    if kind == "array":
        item = max_json_chars(schema.get("items", {"type": "string"})) + 2
        return 2 + item * int(schema.get("maxItems", DEFAULT_MAX_ITEMS))
    if kind == "object":
        properties: Mapping[str, Schema] = schema.get("properties", {})
        return 2 + sum(len(json.dumps(k)) + 4 + max_json_chars(s) for k, s in properties.items())
    return {"integer": 17, "number": 26, "boolean": 5, "null": 4}.get(str(kind), 32)


def schema_errors(value: Any, schema: Schema, path: str = "$") -> list[str]:  # noqa: C901
    """What is wrong with ``value`` under ``schema`` (empty when it conforms)."""
    if "const" in schema:
        return [] if value == schema["const"] else [f"{path} must be {json.dumps(schema['const'])}"]
    if "enum" in schema:
        if value in list(schema["enum"]):
            return []
        return [f"{path} must be one of {', '.join(json.dumps(v) for v in schema['enum'])}"]
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        found = [schema_errors(value, s, path) for s in alternatives]
        return [] if any(not f for f in found) else min(found, key=len)
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if kind is not None and not any(_is_type(value, str(k)) for k in kinds):
        return [f"{path} must be {' or '.join(str(k) for k in kinds)}, got {type(value).__name__}"]
    if isinstance(value, str) and len(value) > int(schema.get("maxLength", len(value))):
        return [f"{path} is longer than {schema['maxLength']} characters"]
    if isinstance(value, str) and len(value) < int(schema.get("minLength", 0)):
        return [f"{path} is shorter than {schema['minLength']} characters"]
    if isinstance(value, list):
        items = schema.get("items", {})
        return [e for i, v in enumerate(value) for e in schema_errors(v, items, f"{path}[{i}]")]
    if isinstance(value, dict):
        return _object_errors(value, schema, path)
    return []


def _object_errors(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    properties: Mapping[str, Schema] = schema.get("properties", {})
    errors = [f"{path} lacks '{key}'" for key in schema.get("required", []) if key not in value]
    if schema.get("additionalProperties") is False:
        errors += [f"{path} has an unknown key '{key}'" for key in value if key not in properties]
    for key, sub in properties.items():
        if key in value:
            errors += schema_errors(value[key], sub, f"{path}.{key}")
    return errors


def _is_type(value: Any, kind: str) -> bool:
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    check = checks.get(kind)
    return bool(check(value)) if check else True


def parse_json_reply(text: str) -> Any:
    """The first JSON object or array in a model's reply.

    Raises ``InputError`` when there is none (the message quotes the reply's start).
    """
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        return value
    shown = " ".join(text.split())[:120]
    raise InputError(
        f"the reply holds no JSON object: '{shown}'",
        hint="use a llama.cpp model (gguf:, bundled:) so the output is constrained by a grammar",
    )


def match_label(text: str, labels: Sequence[str]) -> str | None:
    """The label a free-text reply names (exact, then first mentioned), or None."""
    cleaned = text.strip().strip(".\"'`*").lower()
    for label in labels:
        if cleaned == label.lower():
            return label
    positions = []
    for label in labels:
        found = re.search(rf"(?<!\w){re.escape(label.lower())}(?!\w)", text.lower())
        if found:
            positions.append((found.start(), -len(label), label))
    return min(positions)[2] if positions else None
