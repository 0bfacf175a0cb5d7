"""Chains: ordering, name checking at build time, parallel groups, routing, tracing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from heron.chains import (
    Chain,
    JsonStep,
    LabelStep,
    Parallel,
    PromptStep,
    Router,
    RunTraces,
    TransformStep,
)
from heron.errors import HeronError, InputError
from heron.testing.fakes import ScriptedLLM


def step(name: str, fn: Any, output: str) -> TransformStep:
    return TransformStep(name, fn, output)


def test_outputs_feed_later_inputs_by_name_in_order() -> None:
    calls: list[str] = []

    def upper(text: str) -> str:
        calls.append("upper")
        return text.upper()

    def exclaim(shout: str) -> str:
        calls.append("exclaim")
        return shout + "!"

    chain = Chain("c", [step("a", upper, "shout"), step("b", exclaim, "final")], ["text"])
    result = chain.invoke(text="hi")
    assert result.outputs == {"shout": "HI", "final": "HI!"}
    assert calls == ["upper", "exclaim"]
    assert [c.name for c in result.trace.children] == ["a", "b"]
    assert result.trace.children[1].inputs == {"shout": "HI"}


def test_declared_order_is_fixed_only_as_far_as_dependencies_require() -> None:
    order: list[str] = []

    def make(name: str, needs: str, out: str) -> TransformStep:
        def fn(value: Any) -> str:
            order.append(name)
            return name

        return TransformStep(name, fn, out, inputs=[needs])

    chain = Chain(
        "c",
        [make("late", "x", "y"), make("early", "text", "x"), make("other", "text", "z")],
        ["text"],
    )
    chain.invoke(text="t")
    assert order == ["early", "late", "other"]


def test_missing_input_is_an_error_at_build_time_naming_step_and_name() -> None:
    with pytest.raises(InputError) as info:
        Chain("c", [step("judge", lambda summary: summary, "verdict")], ["text"])
    message = str(info.value)
    assert "judge" in message and "'summary'" in message and "text" in message


def test_cycle_is_an_error_at_build_time() -> None:
    a = TransformStep("a", lambda y: y, "x")
    b = TransformStep("b", lambda x: x, "y")
    with pytest.raises(InputError, match=r"cycle: a -> b -> a"):
        Chain("c", [a, b], [])


def test_duplicate_outputs_and_names_are_errors() -> None:
    with pytest.raises(InputError, match="both output 'x'"):
        Chain("c", [step("a", lambda t: t, "x"), step("b", lambda t: t, "x")], ["t"])
    with pytest.raises(InputError, match="two steps named 'a'"):
        Chain("c", [step("a", lambda t: t, "x"), step("a", lambda t: t, "y")], ["t"])
    with pytest.raises(InputError, match="also an input"):
        Chain("c", [step("a", lambda t: t, "t")], ["t"])


def test_missing_chain_input_at_run_time_is_an_input_error() -> None:
    chain = Chain("c", [step("a", lambda text: text, "x")], ["text"])
    with pytest.raises(InputError, match="needs input 'text'"):
        chain.invoke({})


def test_a_failing_step_is_reported_with_its_name_and_traced(tmp_path: Path) -> None:
    def boom(text: str) -> str:
        raise ValueError("bad value")

    traces = RunTraces(tmp_path)
    chain = Chain("c", [step("ok", lambda text: text, "x"), step("boom", boom, "y")], ["text"])
    with pytest.raises(HeronError, match=r"step 'boom' failed: ValueError: bad value"):
        chain.invoke({"text": "t"}, traces=traces)
    (run,) = list(traces.runs())
    assert run["status"] == "error"
    assert run["root"]["children"][1]["error"].startswith("ValueError")


def test_parallel_runs_steps_concurrently_and_merges_outputs() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def left(text: str) -> str:
        barrier.wait()  # both must be running at once, or this times out
        return "L" + text

    def right(text: str) -> str:
        barrier.wait()
        return "R" + text

    group = Parallel("both", [step("l", left, "left"), step("r", right, "right")])
    chain = Chain("c", [group, step("join", lambda left, right: left + right, "out")], ["text"])
    result = chain.invoke(text="x")
    assert result.outputs["out"] == "LxRx"
    assert [c.name for c in result.trace.children[0].children] == ["l", "r"]


def test_parallel_steps_cannot_feed_each_other() -> None:
    with pytest.raises(InputError, match="cannot feed each other"):
        Parallel("p", [step("a", lambda t: t, "x"), step("b", lambda x: x, "y")])


def test_router_runs_only_the_chosen_branch() -> None:
    ran: list[str] = []

    def branch(name: str) -> TransformStep:
        def fn(text: str) -> str:
            ran.append(name)
            return f"{name}:{text}"

        return TransformStep(name, fn, "reply")

    router = Router("route", {"pos": branch("pos"), "neg": branch("neg")}, on="mood")
    chain = Chain(
        "c",
        [step("mood", lambda text: "neg" if "bad" in text else "pos", "mood"), router],
        ["text"],
    )
    assert chain.invoke(text="bad day").outputs["reply"] == "neg:bad day"
    assert chain.invoke(text="good day").outputs["route_route"] == "pos"
    assert ran == ["neg", "pos"]


def test_router_unknown_label_is_an_error_unless_there_is_a_default() -> None:
    branches = {"a": step("a", lambda text: 1, "v"), "b": step("b", lambda text: 2, "v")}
    router = Router("r", branches, choose=lambda values: "zzz", choose_inputs=["text"])
    with pytest.raises(InputError, match="has no branch"):
        router.invoke(text="t")
    fallback = Router(
        "r", branches, choose=lambda values: "zzz", choose_inputs=["text"], default="b"
    )
    assert fallback.invoke(text="t").outputs == {"v": 2, "r_route": "b"}


def test_router_needs_every_branch_input_at_build_time() -> None:
    router = Router("r", {"a": step("a", lambda other: 1, "v")}, on="label")
    with pytest.raises(InputError, match="'other'"):
        Chain("c", [step("l", lambda text: "a", "label"), router], ["text"])


def test_prompt_step_fills_the_template_and_records_prompt_and_tokens() -> None:
    llm = ScriptedLLM(["  a summary  "])
    chain = Chain("c", [PromptStep("sum", llm, "Summarize: {text}", output="summary")], ["text"])
    result = chain.invoke(text="long text")
    assert result.outputs == {"summary": "a summary"}
    assert llm.prompts == ["user: Summarize: long text"]
    span = result.trace.children[0]
    assert span.prompt_tokens > 0 and span.completion_tokens > 0
    assert span.prompts[0][0].content == "Summarize: long text"


def test_template_fields_become_inputs_and_bad_fields_fail_early() -> None:
    llm = ScriptedLLM()
    assert PromptStep("p", llm, "{a} and {b.x} and {a}").inputs == ("a", "b")
    with pytest.raises(InputError, match="not a name"):
        PromptStep("p", llm, "{0}")
    with pytest.raises(InputError, match="bad prompt template"):
        PromptStep("p", llm, "{unclosed")


def test_label_step_uses_a_grammar_when_the_model_takes_one() -> None:
    llm = ScriptedLLM(["negative"], accepts_grammar=True)
    label = LabelStep("s", llm, "Sentiment of {text}?", ["positive", "negative"], "sentiment")
    assert label.invoke(text="awful").outputs == {"sentiment": "negative"}
    assert llm.grammars == ['root ::= "positive" | "negative"\n']


def test_label_step_without_grammar_matches_free_text_or_fails_clearly() -> None:
    llm = ScriptedLLM(["I think it is Negative.", "no idea"])
    label = LabelStep("s", llm, "{text}", ["positive", "negative"], "sentiment")
    assert label.invoke(text="x").outputs["sentiment"] == "negative"
    with pytest.raises(InputError, match="names none of positive, negative"):
        label.invoke(text="y")


def test_json_step_retries_once_with_the_problem_then_fails() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    llm = ScriptedLLM(['Sure: {"n": "three"}', 'Here: {"n": 3} done'])
    step_ = JsonStep("j", llm, "Count {text}", schema, "data")
    assert step_.invoke(text="x").outputs == {"data": {"n": 3}}
    assert "$.n must be integer" in llm.prompts[1]
    failing = JsonStep("j", ScriptedLLM(["nope"]), "Count {text}", schema, "data")
    with pytest.raises(InputError, match="no valid JSON"):
        failing.invoke(text="x")


def test_json_step_sends_the_schema_grammar_to_constrained_models() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    llm = ScriptedLLM(['{"ok": true}'], accepts_grammar=True)
    assert JsonStep("j", llm, "{q}", schema).invoke(q="?").outputs == {"data": {"ok": True}}
    assert llm.grammars[0] is not None and '"{\\"ok\\": "' in llm.grammars[0]


def test_runs_are_recorded_under_the_home(tmp_path: Path) -> None:
    traces = RunTraces(tmp_path)
    chain = Chain("c", [step("a", lambda text: text * 2, "x")], ["text"])
    result = chain.invoke({"text": "ab"}, traces=traces)
    stored = traces.find(result.run_id[:8])
    assert stored["name"] == "c" and stored["status"] == "ok"
    assert stored["root"]["children"][0]["outputs"] == {"x": "abab"}
    assert (tmp_path / "traces" / "chain.jsonl").exists()


def test_long_values_are_cut_in_traces(tmp_path: Path) -> None:
    traces = RunTraces(tmp_path)
    chain = Chain("c", [step("a", lambda text: text, "x")], ["text"])
    result = chain.invoke({"text": "y" * 10_000}, traces=traces)
    stored = traces.find(result.run_id)
    assert len(stored["root"]["children"][0]["outputs"]["x"]) < 2100
