"""Templates to and from dicts, JSON and TOML files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heron.errors import InputError
from heron.prompts import (
    GUARD_UNKNOWN,
    Defenses,
    PromptTemplate,
    few_shot,
    load_template,
    template_from_dict,
    template_to_dict,
)


def test_round_trip_through_json() -> None:
    template = few_shot(
        "Classify.",
        [{"input": "sun", "output": "positive"}],
        separator="---",
        system="Be brief.",
        defenses=Defenses(random_tag=True, guards=(GUARD_UNKNOWN,)),
    )
    data = json.loads(json.dumps(template_to_dict(template)))
    assert data["examples"] == [{"input": "sun", "output": "positive"}]
    assert data["defenses"]["guards"] == [GUARD_UNKNOWN]
    assert template_from_dict(data) == template
    custom = PromptTemplate.from_text("Q: {input}\nA:", defenses=Defenses.none())
    assert template_from_dict(template_to_dict(custom)) == custom


def test_load_toml_and_json_files(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text(
        'instruction = "Classify."\nexamples = [{input = "a", output = "b"}]\n'
        "[defenses]\nrandom_tag = true\n",
        encoding="utf-8",
    )
    loaded = load_template(toml)
    assert loaded.defenses == Defenses(random_tag=True)
    assert loaded.examples[0].output == "b"
    js = tmp_path / "t.json"
    js.write_text(json.dumps({"text": "Say: {input}"}), encoding="utf-8")
    assert load_template(js).slots() == ("input",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"instruction": "x", "instructions": "y"}, "unknown template key\\(s\\): instructions"),
        ({"instruction": "x", "defenses": {"sandwhich": True}}, "unknown defenses key"),
        ({"instruction": "x", "defenses": True}, "'defenses' must be a mapping"),
        ({"instruction": "x", "examples": {"input": "a"}}, "'examples' must be a list"),
        ({"instruction": "x", "examples": [{"input": "a"}]}, "example 0 is missing the field"),
        ({}, "instruction is empty"),
        (["instruction"], "must be a mapping"),
    ],
)
def test_bad_dicts(data: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        template_from_dict(data)  # type: ignore[arg-type]


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read template file"):
        load_template(tmp_path / "missing.toml")
    bad = tmp_path / "t.toml"
    bad.write_text("instruction = ", encoding="utf-8")
    with pytest.raises(InputError, match="does not parse"):
        load_template(bad)
    other = tmp_path / "t.yaml"
    other.write_text("instruction: x", encoding="utf-8")
    with pytest.raises(InputError, match="neither .json nor .toml"):
        load_template(other)
