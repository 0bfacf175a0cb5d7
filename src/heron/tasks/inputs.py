"""Checks on what callers pass: texts, label sets, few-shot examples, schemas.

Every task accepts one text or a list; ``as_batch`` normalises both and remembers
which was given, so one text gets one result back and a list gets a list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heron.errors import InputError

Texts = str | Sequence[str]

#: JSON Schema types an extraction field may have
FIELD_TYPES = ("string", "number", "integer", "boolean")


def as_batch(texts: Texts, what: str = "text") -> tuple[list[str], bool]:
    """The texts as a list, and whether a single text was given."""
    single = isinstance(texts, str)
    batch = [texts] if isinstance(texts, str) else list(texts)
    if not single and not batch:
        raise InputError(f"the list of {what}s is empty", hint=f"pass at least one {what}")
    for i, text in enumerate(batch):
        if not isinstance(text, str):
            raise InputError(f"{what} {i} is a {type(text).__name__}, not a string")
        if not text.strip():
            where = f"the {what}" if single else f"{what} {i} of {len(batch)}"
            raise InputError(f"{where} is empty", hint=f"pass a non-empty {what}")
    return batch, single


def check_labels(labels: Sequence[str] | str | None, what: str = "labels") -> list[str]:
    """A non-empty list of distinct, non-empty labels (a comma-separated string is split)."""
    if isinstance(labels, str):
        labels = labels.split(",") if labels.strip() else []
    items = [str(label).strip() for label in (labels or [])]
    if not items:
        raise InputError(
            f"the {what} list is empty",
            hint="give at least two labels, e.g. labels=['sports', 'politics']",
        )
    if any(not label for label in items):
        raise InputError(f"the {what} list has an empty label: {items}")
    folded = [label.casefold() for label in items]
    dupes = [label for label, key in zip(items, folded, strict=True) if folded.count(key) > 1]
    if dupes:
        raise InputError(
            f"duplicate label(s) {sorted(set(dupes))} in {items}",
            hint="labels are compared without case; give each once",
        )
    return items


def check_examples(examples: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Few-shot examples: each a mapping with non-empty ``input`` and ``output``."""
    if not examples:
        raise InputError(
            "few-shot needs at least one example",
            hint='give examples such as [{"input": "great film", "output": "positive"}]',
        )
    checked = []
    for i, example in enumerate(examples):
        if not isinstance(example, Mapping):
            raise InputError(f"few-shot example {i} is not an object with input and output")
        missing = [k for k in ("input", "output") if not str(example.get(k) or "").strip()]
        if missing:
            raise InputError(
                f"few-shot example {i} is missing {' and '.join(missing)}: {dict(example)}",
                hint='each example needs "input" and "output", e.g. '
                '{"input": "great film", "output": "positive"}',
            )
        checked.append({"input": str(example["input"]), "output": str(example["output"])})
    return checked


def load_examples(path: Path) -> list[dict[str, str]]:
    """Few-shot examples from a JSONL file (one ``{"input", "output"}`` object a line)."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read examples file {path}: {exc.strerror}") from exc
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n} is not valid JSON: {exc.msg}") from exc
    return check_examples(rows)


def schema_from_fields(fields: Sequence[str] | str) -> dict[str, Any]:
    """A JSON Schema object with one string property per field name (all required)."""
    names = check_labels(fields, what="fields")
    return {
        "type": "object",
        "properties": {name: {"type": "string"} for name in names},
        "required": names,
        "additionalProperties": False,
    }


def check_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An object schema whose properties have simple types (what extraction supports)."""
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        raise InputError(
            'the extraction schema must be a JSON Schema with "type": "object"',
            hint='example: {"type": "object", "properties": {"name": {"type": "string"}}}',
        )
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise InputError("the extraction schema has no properties", hint="name at least one field")
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        if kind not in FIELD_TYPES and not (isinstance(spec, Mapping) and "enum" in spec):
            raise InputError(
                f"extraction field '{name}' has type {kind!r}",
                hint=f"use one of {', '.join(FIELD_TYPES)} or an enum",
            )
    result = dict(schema)
    result.setdefault("required", list(properties))
    return result
