"""Long documents: splitting to the window, map-reduce over many chunks, refine, collapse."""

from __future__ import annotations

import re

import pytest

from heron.chains import Chain, LongQAStep, Span, SummarizeStep, answer, summarize
from heron.chains.longdoc import LongText, split_to_fit
from heron.errors import InputError
from heron.models.base import approx_token_count
from heron.testing.fakes import ScriptedLLM

#: 60 numbered paragraphs, far more than a 512-token window holds
DOCUMENT = "\n\n".join(
    f"Paragraph {n}. " + " ".join(f"word{n}x{i}" for i in range(25)) for n in range(60)
)


def echo_numbers(prompt: str) -> str:
    """A fake model that 'summarises' by listing the paragraph numbers it saw."""
    seen = re.findall(r"(?:Paragraph|P)(\d+)|Paragraph (\d+)", prompt)
    numbers = sorted({int(a or b) for a, b in seen})
    return " ".join(f"P{n}" for n in numbers) or "NONE"


def test_split_to_fit_keeps_order_and_respects_the_budget() -> None:
    pieces = split_to_fit(DOCUMENT, approx_token_count, 200)
    assert len(pieces) > 5
    assert all(approx_token_count(p) <= 200 + 10 for p in pieces)
    assert " ".join(pieces).split() == DOCUMENT.split()


def test_split_to_fit_breaks_a_giant_paragraph_into_words() -> None:
    giant = " ".join(f"w{i}" for i in range(3000))
    pieces = split_to_fit(giant, approx_token_count, 100)
    assert len(pieces) > 20 and " ".join(pieces).split() == giant.split()
    with pytest.raises(InputError, match="larger context window"):
        split_to_fit(giant, approx_token_count, 3)


def test_map_reduce_summary_sees_every_chunk_in_order_and_reduces_once() -> None:
    llm = ScriptedLLM(echo_numbers, context_window=512)
    span = Span("s", "test")
    result, pieces = LongText(llm, max_tokens=120).map_reduce(DOCUMENT, span)
    labels = [c.name for c in span.children]
    assert pieces > 5
    assert labels[:pieces] == [f"map {i}" for i in range(1, pieces + 1)]
    assert labels[-1] == "reduce"
    assert result == " ".join(f"P{n}" for n in range(60))  # nothing lost, nothing reordered


def test_map_reduce_collapses_in_groups_when_partials_do_not_fit() -> None:
    llm = ScriptedLLM(lambda p: "summary " * 60, context_window=512)
    span = Span("s", "test")
    LongText(llm, max_tokens=100).map_reduce(DOCUMENT, span)
    labels = [c.name for c in span.children]
    assert any(label.startswith("collapse 1.") for label in labels)
    assert labels[-1] == "reduce"


def test_refine_visits_every_chunk_once_in_order() -> None:
    llm = ScriptedLLM(echo_numbers, context_window=512)
    span = Span("s", "test")
    result, pieces = LongText(llm, max_tokens=120).refine(DOCUMENT, span)
    assert [c.name for c in span.children] == [f"refine {i}" for i in range(1, pieces + 1)]
    assert "P59" in result
    assert "a summary of a document so far:\nP0 P1" in llm.prompts[1]


def test_question_answering_drops_chunks_without_the_answer() -> None:
    def reply(prompt: str) -> str:
        if "Combine them" in prompt:
            return "combined: " + " | ".join(re.findall(r"found in \d+", prompt))
        match = re.search(r"Paragraph (7|42)\.", prompt)
        return f"found in {match.group(1)}" if match else "NONE"

    llm = ScriptedLLM(reply, context_window=512)
    assert answer(llm, "where?", DOCUMENT) == "combined: found in 7 | found in 42"


def test_short_text_needs_one_call() -> None:
    llm = ScriptedLLM(["short summary"])
    assert summarize(llm, "A short text.") == "short summary"
    assert len(llm.prompts) == 1


def test_steps_in_a_chain() -> None:
    llm = ScriptedLLM(echo_numbers, context_window=512)
    chain = Chain(
        "long",
        [
            SummarizeStep("sum", llm, "refine", output="summary"),
            LongQAStep("qa", llm, "map_reduce", question="question", text="text"),
        ],
        ["text", "question"],
    )
    result = chain.invoke(text=DOCUMENT, question="what?")
    assert "P0" in result.outputs["summary"]
    assert len(result.trace.children[0].children) > 5  # each model call is a span


def test_unknown_method_is_an_input_error() -> None:
    with pytest.raises(InputError, match="map_reduce, refine"):
        summarize(ScriptedLLM(), "x", method="stuff")
