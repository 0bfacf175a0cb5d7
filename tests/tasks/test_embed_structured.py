"""Zero-shot by embedding similarity, and the structured-output validators."""

from __future__ import annotations

import pytest

from heron.errors import InputError
from heron.tasks import Label, zero_shot
from heron.tasks.embed import hypotheses
from heron.tasks.structured import label_grammar, parse_json, parse_label


def test_zero_shot_with_an_embedder_picks_the_closest_label() -> None:
    texts = ["football match goal score", "stock market shares fell"]
    out = zero_shot(texts, ["football", "stock market"], model="hash:256",
                    template="{}")  # fmt: skip
    assert isinstance(out, list)
    assert [r.label for r in out] == ["football", "stock market"]
    assert all(r.score == max(r.scores.values()) for r in out)


def test_zero_shot_single_text_and_template_slot() -> None:
    one = zero_shot("football", ["football", "politics"], model="hash:64", template="{}")
    assert isinstance(one, Label) and one.label == "football"
    with pytest.raises(InputError, match="no \\{\\} slot"):
        hypotheses(["a"], "This text is about it.")
    with pytest.raises(InputError, match="duplicate"):
        zero_shot("x", ["a", "a"], model="hash:64")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("positive", "positive"),
        ("  Negative.", "negative"),
        ('"positive"', "positive"),
        ("**Positive**", "positive"),
        ("positive - the reviewer liked it", "positive"),
        ("The sentiment is negative", "negative"),
        ("positive or negative", None),
        ("I cannot tell", None),
        ("", None),
    ],
)
def test_parse_label(reply: str, expected: str | None) -> None:
    assert parse_label(reply, ["positive", "negative"]) == expected


def test_parse_label_prefers_the_longest_exact_match() -> None:
    assert parse_label("U.S. News", ["U.S. News", "World News"]) == "U.S. News"
    assert parse_label("world news", ["U.S. News", "World News"]) == "World News"


def test_label_grammar_escapes_quotes() -> None:
    assert label_grammar(['say "hi"', "a\\b"]) == 'root ::= "say \\"hi\\"" | "a\\\\b"'


def test_parse_json() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "ok": {"type": "boolean"},
            "s": {"type": "string"},
        },
        "required": ["n"],
    }
    assert parse_json('x {"n": "3", "ok": "true", "s": 5, "extra": 1} y', schema) == {
        "n": 3, "ok": True, "s": "5",
    }  # fmt: skip
    assert parse_json('{"ok": true}', schema) is None  # required key missing
    assert parse_json('{"n": 2.5}', schema) is None  # not an integer
    assert parse_json('{"n": 1', schema) is None  # cut off
    assert parse_json("no json", schema) is None
    enum = {"type": "object", "properties": {"c": {"enum": ["a", "b"]}}}
    assert parse_json('{"c": "a"}', enum) == {"c": "a"}
    assert parse_json('{"c": "z"}', enum) is None
