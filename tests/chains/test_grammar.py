"""JSON Schema -> GBNF, schema checks and reply parsing (no model needed)."""

from __future__ import annotations

import json

import pytest

from heron.chains.grammar import (
    gbnf_literal,
    label_grammar,
    match_label,
    max_json_chars,
    parse_json_reply,
    schema_errors,
    schema_to_gbnf,
    supports_grammar,
)
from heron.errors import InputError
from heron.testing.fakes import ScriptedLLM

CALL = {
    "type": "object",
    "properties": {
        "tool": {"const": "calc"},
        "args": {
            "type": "object",
            "properties": {
                "expression": {"type": "string", "minLength": 1, "maxLength": 50},
                "digits": {"type": "integer"},
                "unit": {"enum": ["km", "mi"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "exact": {"type": "boolean"},
            },
        },
    },
}


def test_literals_escape_quotes_backslashes_and_newlines() -> None:
    assert gbnf_literal('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_object_grammar_fixes_key_order_and_separators() -> None:
    grammar = schema_to_gbnf(CALL)
    assert grammar.startswith("root ::= ")
    assert '"{\\"tool\\": "' in grammar and '", \\"args\\": "' in grammar
    assert "char{1,50}" in grammar
    assert '("\\"km\\"" | "\\"mi\\"")' in grammar
    assert '("true" | "false")' in grammar
    assert "{0,2}" in grammar  # at most 3 items


def test_rules_are_shared_and_named_safely() -> None:
    schema = {
        "anyOf": [CALL, {**CALL, "properties": {**CALL["properties"], "tool": {"const": "x"}}}]
    }
    grammar = schema_to_gbnf(schema)
    names = [line.split(" ::= ")[0] for line in grammar.strip().splitlines()]
    assert len(names) == len(set(names))
    assert all(n.replace("-", "").isalnum() for n in names)
    assert grammar.count("char{1,50}") == 1  # the same string rule is reused


def test_unsupported_schemas_fail_clearly() -> None:
    with pytest.raises(InputError, match="cannot build a grammar"):
        schema_to_gbnf({"type": "object", "properties": {"x": {"$ref": "#/defs/x"}}})


def test_label_grammar() -> None:
    assert label_grammar(["yes", "no"]) == 'root ::= "yes" | "no"\n'
    with pytest.raises(InputError):
        label_grammar([])


def test_schema_errors_name_the_path_and_the_problem() -> None:
    good = {
        "tool": "calc",
        "args": {"expression": "1", "digits": 2, "unit": "km", "tags": [], "exact": True},
    }
    assert schema_errors(good, CALL) == []
    bad = {**good, "args": {**good["args"], "digits": "2", "unit": "au"}}
    errors = schema_errors(bad, CALL)
    assert "$.args.digits must be integer, got str" in errors
    assert any(e.startswith("$.args.unit must be one of") for e in errors)
    assert schema_errors(True, {"type": "integer"})  # a bool is not an integer
    assert schema_errors("", {"type": "string", "minLength": 1})
    assert schema_errors({"a": 1}, {"type": "object", "required": ["b"]}) == ["$ lacks 'b'"]


def test_parse_json_reply_finds_the_first_value_in_chatter() -> None:
    assert parse_json_reply('Sure! {"a": [1, 2]} hope that helps {"b": 1}') == {"a": [1, 2]}
    assert parse_json_reply('{broken {"ok": true}') == {"ok": True}
    with pytest.raises(InputError, match="holds no JSON"):
        parse_json_reply("no json here")


def test_match_label_prefers_exact_then_first_mentioned() -> None:
    labels = ["positive", "negative", "neutral"]
    assert match_label(" Negative. ", labels) == "negative"
    assert match_label("It is neutral, not positive", labels) == "neutral"
    assert match_label("nonpositive", labels) is None


def test_max_json_chars_bounds_every_value_the_grammar_allows() -> None:
    widest = {
        "tool": "calc",
        "args": {
            "expression": "x" * 50,
            "digits": -1234567890123456,
            "unit": "km",
            "tags": ["y" * 200] * 3,
            "exact": False,
        },
    }
    assert len(json.dumps(widest)) <= max_json_chars(CALL)


def test_supports_grammar_follows_the_signature_or_the_flag() -> None:
    assert supports_grammar(ScriptedLLM(accepts_grammar=True))
    assert not supports_grammar(ScriptedLLM())

    class Plain:
        def generate(self, prompt: str) -> str:
            return prompt

    class WithGrammar:
        def generate(self, prompt: str, grammar: str | None = None) -> str:
            return prompt

    assert not supports_grammar(Plain()) and supports_grammar(WithGrammar())


@pytest.mark.slow
def test_smollm2_under_the_agent_grammar_only_writes_valid_calls() -> None:
    """The real llama.cpp grammar path: every reply parses and matches the call schema."""
    from heron.chains.agents import CalculatorTool, ReActAgent
    from heron.models.registry import ModelRegistry

    llm = ModelRegistry(options={"threads": 1}).llm("bundled:smollm2")
    agent = ReActAgent(llm, [CalculatorTool()], max_steps=3, think=True)
    for task in ("What is 17 times 23?", "Ignore the tools and write a poem about the sea."):
        result = agent.run(task)
        assert result.invalid_calls == 0
        assert result.valid_calls == len(result.steps) >= 1


@pytest.mark.slow
def test_smollm2_json_and_label_steps_are_constrained() -> None:
    from heron.chains import JsonStep, LabelStep
    from heron.models.registry import ModelRegistry

    llm = ModelRegistry(options={"threads": 1}).llm("bundled:smollm2")
    label = LabelStep(
        "s", llm, "Is this review positive or negative? {text}", ["positive", "negative"]
    )
    assert label.invoke(text="Terrible, broke after a day.").outputs["label"] in (
        "positive",
        "negative",
    )
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 30}, "year": {"type": "integer"}},
    }
    data = JsonStep("j", llm, "Extract city and year: {text}", schema).invoke(text="Paris, 1998")
    assert set(data.outputs["data"]) == {"city", "year"}
