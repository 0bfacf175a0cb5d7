"""Templates as plain data: dicts, JSON and TOML files.

A template file lets a CLI user or a config keep a prompt outside the code::

    instruction = "Classify the sentiment."
    separator = "###"
    examples = [{input = "a lovely day", output = "positive"}]
    [defenses]
    random_tag = true

Unknown keys are an ``InputError`` naming them (a typo must not be ignored).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from heron.errors import InputError
from heron.prompts.defenses import Defenses
from heron.prompts.few_shot import as_example
from heron.prompts.template import PromptTemplate

_TEMPLATE_KEYS = tuple(f.name for f in fields(PromptTemplate))
_DEFENSE_KEYS = tuple(f.name for f in fields(Defenses))


def template_to_dict(template: PromptTemplate) -> dict[str, Any]:
    """JSON-ready fields of ``template`` (examples as mappings, guards as a list)."""
    data = asdict(template)
    data["examples"] = [dict(e) for e in data["examples"]]
    data["defenses"]["guards"] = list(template.defenses.guards)
    return data


def _unknown(keys: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = sorted(set(keys) - set(allowed))
    if extra:
        raise InputError(
            f"unknown {where} key(s): {', '.join(extra)}",
            hint=f"the keys are {', '.join(allowed)}",
        )


def template_from_dict(data: Mapping[str, Any]) -> PromptTemplate:
    """The inverse of ``template_to_dict``; missing keys take their defaults."""
    if not isinstance(data, Mapping):
        raise InputError(f"a template must be a mapping, got {type(data).__name__}")
    _unknown(data, _TEMPLATE_KEYS, "template")
    values = dict(data)
    defenses = values.pop("defenses", None) or {}
    if not isinstance(defenses, Mapping):
        raise InputError("'defenses' must be a mapping of switches, e.g. {random_tag = true}")
    _unknown(defenses, _DEFENSE_KEYS, "defenses")
    defense_values = dict(defenses)
    defense_values["guards"] = tuple(defense_values.get("guards", ()))
    examples = values.pop("examples", None) or []
    if not isinstance(examples, list):
        raise InputError("'examples' must be a list of {input, output} mappings")
    values.setdefault("instruction", "")
    return PromptTemplate(
        examples=tuple(as_example(item, n) for n, item in enumerate(examples)),
        defenses=Defenses(**defense_values),
        **values,
    )


def load_template(path: str | Path) -> PromptTemplate:
    """Read a template from a ``.json`` or ``.toml`` file."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read template file {path}: {exc.strerror}") from exc
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(raw)
        elif path.suffix == ".json":
            data = json.loads(raw)
        else:
            raise InputError(f"template file {path} is neither .json nor .toml", hint="rename it")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"template file {path} does not parse: {exc}") from exc
    return template_from_dict(data)
