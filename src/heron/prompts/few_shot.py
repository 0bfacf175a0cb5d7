"""The few-shot builder: examples as ``Example`` objects or plain mappings.

Mappings are what JSONL and CSV rows load as, so ``few_shot`` accepts
``{"input": ..., "output": ...}`` and says which example lacks which field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from heron.errors import InputError
from heron.prompts.defenses import Defenses
from heron.prompts.template import Example, PromptTemplate

FIELDS = ("input", "output")


def as_example(item: Example | Mapping[str, str], number: int) -> Example:
    """One example from an ``Example`` or a mapping with "input" and "output"."""
    if isinstance(item, Example):
        return item
    if not isinstance(item, Mapping):
        raise InputError(
            f"example {number} is a {type(item).__name__}, not a mapping or Example",
            hint='give each example as {"input": ..., "output": ...}',
        )
    for name in FIELDS:
        value = item.get(name)
        if value is None:
            raise InputError(
                f"example {number} is missing the field '{name}'",
                hint=f'every example needs "input" and "output"; example {number} has '
                f"{sorted(map(str, item)) or 'no fields'}",
            )
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"example {number} has an empty or non-string '{name}'")
    return Example(item["input"], item["output"])


def few_shot(
    instruction: str,
    examples: Sequence[Example | Mapping[str, str]],
    *,
    separator: str = "###",
    output_format: str | None = None,
    input_label: str = "Input",
    output_label: str = "Output",
    system: str | None = None,
    defenses: Defenses | None = None,
    example_turns: bool = False,
) -> PromptTemplate:
    """A template that shows ``examples`` before the input, ``separator`` between them.

    The separator is also a stop sequence of the rendered prompt, so the model
    stops when it starts another example. ``example_turns=True`` shows the
    examples as chat turns instead (for chat models).
    """
    if isinstance(examples, (str, Mapping)) or not isinstance(examples, Sequence):
        raise InputError(
            "examples must be a list of examples",
            hint='e.g. [{"input": "great film", "output": "positive"}]',
        )
    if not examples:
        raise InputError(
            "few-shot needs at least one example",
            hint="for a zero-shot prompt use PromptTemplate(instruction) instead",
        )
    return PromptTemplate(
        instruction,
        output_format=output_format,
        examples=tuple(as_example(item, number) for number, item in enumerate(examples)),
        input_label=input_label,
        output_label=output_label,
        separator=separator,
        system=system,
        defenses=defenses if defenses is not None else Defenses(),
        example_turns=example_turns,
    )
