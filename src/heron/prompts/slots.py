"""Template strings with named slots: ``"{instruction}\\n\\nReview: {input}\\nSentiment:"``.

The slots are ``{instruction}``, ``{context}``, ``{examples}``, ``{input}`` and
``{output_format}``; ``{input}`` is required, each slot may appear once, and
``{{``/``}}`` write literal braces. Anything else (an unknown name, a positional
``{}``, a conversion or format spec) is an ``InputError`` at construction time,
never a ``KeyError`` at render time.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from heron.errors import InputError

SLOTS = ("instruction", "output_format", "examples", "context", "input")
_SLOT_LIST = ", ".join("{" + s + "}" for s in SLOTS)


def parse_slots(text: str) -> tuple[str, ...]:
    """The slot names in ``text``, in order; raises ``InputError`` on a bad template."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("the template text is empty", hint=f"write a prompt using {_SLOT_LIST}")
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InputError(
            f"the template text is malformed: {exc}",
            hint="write literal braces as {{ and }}",
        ) from exc
    found: list[str] = []
    for _, name, spec, conversion in pieces:
        if name is None:
            continue
        _check_slot(name, spec, conversion, found)
        found.append(name)
    if "input" not in found:
        raise InputError(
            "the template has no {input} slot", hint="add {input} where the user text goes"
        )
    return tuple(found)


def _check_slot(name: str, spec: str | None, conversion: str | None, found: list[str]) -> None:
    if name not in SLOTS:
        shown = "{" + name + "}" if name else "{}"
        raise InputError(
            f"unknown slot {shown} in the template",
            hint=f"the slots are {_SLOT_LIST}; write literal braces as {{{{ and }}}}",
        )
    if spec or conversion:
        raise InputError(
            f"slot {{{name}}} has a format spec or conversion",
            hint="write the bare slot name, e.g. {input}",
        )
    if name in found:
        raise InputError(
            f"slot {{{name}}} appears more than once in the template",
            hint="use each slot once",
        )


def fill(text: str, values: Mapping[str, str]) -> str:
    """Substitute slot values; values are inserted verbatim (their braces stay literal)."""
    return text.format_map(dict(values))
