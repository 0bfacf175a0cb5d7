"""Rendering, slots, labels, stop sequences and bad input of PromptTemplate."""

from __future__ import annotations

import pytest

from heron.errors import InputError
from heron.models.base import GenerateOptions
from heron.prompts import Defenses, Example, PromptTemplate, RenderedPrompt

PLAIN = Defenses.none()


def test_default_layout_order_and_labels() -> None:
    template = PromptTemplate(
        "Classify the sentiment.",
        output_format="Reply with one word.",
        examples=(Example("a lovely day", "positive"),),
        input_label="Text",
        output_label="Sentiment",
        defenses=PLAIN,
    )
    text = template.render("a grey sky", context="poems").text
    assert text == (
        "Classify the sentiment.\n\nReply with one word.\n\n"
        "Text: a lovely day\nSentiment: positive\n###\n\n"
        "Context: poems\n\nText: a grey sky\nSentiment:"
    )


def test_messages_system_and_text_form() -> None:
    rendered = PromptTemplate("Summarize.", system="You are terse.", defenses=PLAIN).render("x")
    assert [m.role for m in rendered.messages] == ["system", "user"]
    assert rendered.messages[0].content == "You are terse."
    assert rendered.text == "You are terse.\n\nSummarize.\n\nInput: x\nOutput:"
    no_system = PromptTemplate("Summarize.", defenses=PLAIN).render("x")
    assert [m.role for m in no_system.messages] == ["user"]
    assert no_system.tag is None


def test_stop_sequences_and_options_merge() -> None:
    zero = PromptTemplate("Go.").render("x")
    assert zero.stop == ("###",)
    shots = PromptTemplate("Go.", examples=(Example("a", "b"),), separator="---").render("x")
    assert shots.stop == ("---", "\nInput:")
    options = shots.options(GenerateOptions(max_tokens=5, stop=["\n\n", "---"]))
    assert options.stop == ["\n\n", "---", "\nInput:"]
    assert options.max_tokens == 5
    assert RenderedPrompt([], ("###",)).options().stop == ["###"]


def test_empty_separator_joins_examples_with_blank_lines() -> None:
    template = PromptTemplate("Go.", examples=(Example("a", "1"), Example("b", "2")), separator="")
    rendered = template.render("c")
    assert 'Input: """a"""\nOutput: 1\n\nInput: """b"""\nOutput: 2' in rendered.text
    assert rendered.stop == ("\nInput:",)


def test_slots_default_layout() -> None:
    assert PromptTemplate("Go.").slots() == (
        "instruction",
        "output_format",
        "examples",
        "context",
        "input",
    )


def test_from_text_fills_named_slots() -> None:
    template = PromptTemplate.from_text(
        "{instruction}\n{output_format}\n{examples}\nPoem: {input}\nMood {{one word}}:",
        instruction="Name the mood.",
        output_format="One word.",
        examples=(Example("sun", "happy"),),
        defenses=PLAIN,
    )
    assert template.slots() == ("instruction", "output_format", "examples", "input")
    assert template.render("{rain}").text == (
        "Name the mood.\nOne word.\nInput: sun\nOutput: happy\n###\nPoem: {rain}\nMood {one word}:"
    )


def test_from_text_without_instruction_slot_puts_defense_notice_first() -> None:
    template = PromptTemplate.from_text("Review: {input}\nStars:", defenses=Defenses.strict())
    text = template.render("fine", seed=3).text
    assert text.startswith("If the answer is not in the input")
    assert text.index("data to work on") < text.index("Review: <user_")


def test_from_text_context_slot() -> None:
    template = PromptTemplate.from_text("{context}\nQ: {input}\nA:", defenses=PLAIN)
    assert template.render("why?", context="because").text == "because\nQ: why?\nA:"
    assert template.render("why?").text == "\nQ: why?\nA:"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Summarize {inptu}", "unknown slot {inptu}"),
        ("Summarize {}", "unknown slot {}"),
        ("{input} and {input}", "appears more than once"),
        ("Summarize this.", "no {input} slot"),
        ("{input!r}", "format spec or conversion"),
        ("{input:>9}", "format spec or conversion"),
        ("{input", "malformed"),
        ("  ", "template text is empty"),
    ],
)
def test_bad_template_text(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("}", r"\}")) as err:
        PromptTemplate.from_text(text)
    assert err.value.hint


def test_instruction_and_examples_need_their_slots() -> None:
    with pytest.raises(InputError, match="no \\{instruction\\} slot"):
        PromptTemplate.from_text("Q: {input}", instruction="Answer.")
    with pytest.raises(InputError, match="no \\{examples\\} slot"):
        PromptTemplate.from_text("Q: {input}", examples=(Example("a", "b"),))
    with pytest.raises(InputError, match="no \\{context\\} slot"):
        PromptTemplate.from_text("Q: {input}").render("x", context="c")
    with pytest.raises(InputError, match="instruction is empty"):
        PromptTemplate.from_text("{instruction} {input}")


@pytest.mark.parametrize("instruction", ["", "   \n"])
def test_empty_instruction(instruction: str) -> None:
    with pytest.raises(InputError, match="instruction is empty") as err:
        PromptTemplate(instruction)
    assert "say what the model should do" in str(err.value)


def test_bad_fields() -> None:
    with pytest.raises(InputError, match="input_label"):
        PromptTemplate("Go.", input_label="")
    with pytest.raises(InputError, match="output_label"):
        PromptTemplate("Go.", output_label="two\nlines")
    with pytest.raises(InputError, match="not an Example"):
        PromptTemplate("Go.", examples=({"input": "a", "output": "b"},))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="example 1 contains the separator"):
        PromptTemplate("Go.", examples=(Example("a", "b"), Example("c ### d", "e")))
    with pytest.raises(InputError, match="example output is empty"):
        Example("a", " ")


@pytest.mark.parametrize("bad", ["", "  \n ", None])
def test_empty_input(bad: str | None) -> None:
    with pytest.raises(InputError, match="input text is empty"):
        PromptTemplate("Go.").render(bad)  # type: ignore[arg-type]


def test_examples_list_becomes_tuple_and_template_is_hashable_value() -> None:
    template = PromptTemplate("Go.", examples=[Example("a", "b")])  # type: ignore[arg-type]
    assert template.examples == (Example("a", "b"),)
    assert template == PromptTemplate("Go.", examples=(Example("a", "b"),))
    assert template.with_defenses(PLAIN).defenses == PLAIN
    assert template.defenses == Defenses()
