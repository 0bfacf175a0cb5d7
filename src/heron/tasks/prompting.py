"""The prompts each task sends to an instruct LLM, built with ``heron.prompts``.

Kept in one module so the wording is in one place (and measured in one place,
bench/tasks_quality.py). Every prompt is a ``heron.prompts.PromptTemplate``:
instruction, output format, examples, then the input, with delimiter
look-alikes in user text neutralised. User text is not wrapped in quotes with a
data notice (``TASK_DEFENSES``): on SmolLM2-135M sentiment that notice dropped
accuracy from 0.85 to 0.55 (docs/tasks.md). ``render`` takes other ``Defenses``.
"""

from __future__ import annotations

from collections.abc import Sequence

from heron.prompts import Defenses, Example, PromptTemplate, RenderedPrompt
from heron.types import Message

SEPARATOR = "###"
TASK_DEFENSES = Defenses(delimiters=False, neutralise=True)
FEW_SHOT_INSTRUCTION = "Give the output for the last input, following the examples."

TaskPrompt = RenderedPrompt


def render(
    instruction: str,
    text: str,
    *,
    output_format: str = "",
    examples: Sequence[tuple[str, str]] = (),
    separator: str = SEPARATOR,
    input_label: str = "Text",
    output_label: str = "Answer",
    context: str | None = None,
    defenses: Defenses = TASK_DEFENSES,
) -> RenderedPrompt:
    """One user turn: instruction, output format, examples, context, the input."""
    template = PromptTemplate(
        instruction=instruction,
        output_format=output_format or None,
        examples=tuple(Example(i, o) for i, o in examples),
        input_label=input_label,
        output_label=output_label,
        separator=separator,
        defenses=defenses,
    )
    return template.render(text, context=context, seed=0)


def user_prompt(text: str) -> RenderedPrompt:
    """The text as it is, one user turn (``generate``)."""
    return RenderedPrompt([Message("user", text)], ())


def label_instruction(labels: Sequence[str], subject: str = "the text") -> str:
    return f"Classify {subject} into one of these labels: {', '.join(labels)}."


def summarize_prompt(text: str, min_words: int | None, max_words: int | None) -> RenderedPrompt:
    length = "in one sentence"
    if min_words and max_words:
        length = f"in {min_words} to {max_words} words"
    elif max_words:
        length = f"in at most {max_words} words"
    elif min_words:
        length = f"in at least {min_words} words"
    return render(
        f"Summarize the text {length}.", text, output_format="Reply with the summary only.",
        output_label="Summary",
    )  # fmt: skip


def labels_prompt(text: str, labels: Sequence[str], instruction: str = "") -> RenderedPrompt:
    return render(
        instruction or label_instruction(labels),
        text,
        output_format=f"Reply with exactly one label from: {', '.join(labels)}.",
        output_label="Label",
    )


def translate_prompt(text: str, source: str, target: str) -> RenderedPrompt:
    return render(
        f"Translate the text from {source} to {target}.",
        text,
        output_format=f"Reply with the {target} translation only.",
        output_label=target,
    )


def answer_prompt(passage: str, question: str) -> RenderedPrompt:
    return render(
        "Answer the question using only the context. "
        "If the context does not contain the answer, say you don't know.",
        question,
        output_format="Reply with a short answer.",
        input_label="Question",
        context=passage,
    )


#: what an LLM replies for a piece of a long passage that does not hold the answer
NOT_IN_PIECE = "NONE"


def piece_answer_prompt(piece: str, question: str) -> RenderedPrompt:
    """``answer`` on one piece of a passage too long for the window (``long_text="chunk"``)."""
    return render(
        "Answer the question using only the context, which is one part of a longer "
        f"document. If this part does not contain the answer, reply {NOT_IN_PIECE}.",
        question,
        output_format=f"Reply with a short answer, or {NOT_IN_PIECE}.",
        input_label="Question",
        context=piece,
    )


def extract_prompt(text: str, fields: Sequence[str]) -> RenderedPrompt:
    return render(
        f"Extract these fields from the text: {', '.join(fields)}.",
        text,
        output_format="Reply with a JSON object with exactly these keys: " + ", ".join(fields),
        output_label="JSON",
    )


def few_shot_prompt(
    instruction: str, examples: Sequence[tuple[str, str]], text: str, separator: str
) -> RenderedPrompt:
    return render(
        instruction or FEW_SHOT_INSTRUCTION,
        text,
        examples=examples,
        separator=separator,
        input_label="Input",
        output_label="Output",
    )


def retry_reminder(what: str) -> Message:
    """Appended after a reply that did not parse."""
    return Message("user", f"Your reply was not valid. Reply with {what} and nothing else.")
